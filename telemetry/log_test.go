package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// spanContext returns ctx with a valid remote span context.
func spanContext(ctx context.Context) (context.Context, trace.SpanContext) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	return trace.ContextWithSpanContext(ctx, sc), sc
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	ctx, sc := spanContext(context.Background())
	var buf bytes.Buffer
	logger := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "novaflow-compute")

	logger.InfoContext(ctx, "in a span", "k", "v")
	logger.InfoContext(context.Background(), "outside")
	logger.Info("no context")
	logger.WithGroup("g").InfoContext(ctx, "grouped", "x", 1)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first[TraceIDKey] != sc.TraceID().String() || first[SpanIDKey] != sc.SpanID().String() ||
		first["service"] != "novaflow-compute" || first["k"] != "v" {
		t.Errorf("line in a span = %s", lines[0])
	}
	for _, l := range lines[1:3] {
		if strings.Contains(l, TraceIDKey) || strings.Contains(l, SpanIDKey) {
			t.Errorf("line without a span has IDs: %s", l)
		}
	}
	if !strings.Contains(lines[3], sc.TraceID().String()) {
		t.Errorf("grouped line lost the trace ID: %s", lines[3])
	}
}

func TestLogHandlerText(t *testing.T) {
	ctx, sc := spanContext(context.Background())
	var buf bytes.Buffer
	logger := slog.New(LogHandler(slog.NewTextHandler(&buf, nil)))
	logger.WarnContext(ctx, "hello")
	want := "trace_id=" + sc.TraceID().String() + " span_id=" + sc.SpanID().String()
	if !strings.Contains(buf.String(), want) {
		t.Errorf("line %q lacks %q", buf.String(), want)
	}
	if h := LogHandler(LogHandler(slog.DiscardHandler)); h.(logHandler).Handler != slog.DiscardHandler {
		t.Error("LogHandler wraps twice")
	}
}
