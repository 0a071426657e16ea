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
// the level of c (LogFormat and LogLevel must have passed Validate). When
// level is not nil, NewLogger sets it to c.LogLevel and the logger follows
// it: give it to the services (Options.LogLevel) and a SIGHUP that changes
// NOVAFLOW_LOG_LEVEL changes what the process logs. A line logged with a
// context that carries a span gets its trace_id and span_id
// (telemetry.LogHandler).
func NewLogger(w io.Writer, c Config, level *slog.LevelVar) *slog.Logger {
	l, _ := parseLevel(c.LogLevel)
	var leveler slog.Leveler = l
	if level != nil {
		level.Set(l)
		leveler = level
	}
	opts := &slog.HandlerOptions{Level: leveler}
	if c.LogFormat == "json" {
		return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(telemetry.LogHandler(slog.NewTextHandler(w, opts)))
}
