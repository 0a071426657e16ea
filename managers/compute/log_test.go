package compute_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/telemetry"
	"github.com/novaflow/novaflow/testenv"
)

// TestLogLinesCarryTheCallsTrace: the manager logs with the call's context,
// so its lines carry the trace and span of the call (the runtime's logger
// adds them, telemetry.LogHandler), and an operator can go from a log line
// to the call's trace.
func TestLogLinesCarryTheCallsTrace(t *testing.T) {
	e := newEnv(t, nil)
	var buf testenv.Buffer
	cfg := managers.Defaults[computemgr.Settings]()
	cfg.Driver = registerDriver(keepOpen{e.fake})
	m, err := computemgr.New(managers.Deps{
		Host: e.host, Binary: "novaflow-compute", Topic: "compute", DB: e.pool,
		Logger: slog.New(telemetry.LogHandler(slog.NewTextHandler(&buf, nil))), Config: &cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	inst := e.active(t)
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	if _, err := m.TerminateInstance(ctx, computemgr.InstanceRequest{InstanceUUID: inst}); err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "instance terminated") {
			line = l
		}
	}
	want := "trace_id=" + sc.TraceID().String() + " span_id=" + sc.SpanID().String()
	if !strings.Contains(line, want) {
		t.Fatalf("log line %q lacks %q (log: %s)", line, want, buf.String())
	}
}
