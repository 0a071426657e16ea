package worker

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/novaflow/novaflow/telemetry"
)

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger returns the process logger the settings ask for: text or JSON at
// the given level (LogFormat and LogLevel must have passed Validate). A line
// logged with a context that carries a span gets its trace_id and span_id
// (telemetry.LogHandler).
func NewLogger(w io.Writer, c Config) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(telemetry.LogHandler(slog.NewTextHandler(w, opts)))
}
