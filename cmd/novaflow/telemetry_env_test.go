package main

import (
	"context"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/novaflow/novaflow/worker"
)

// startTelemetry takes OTEL_SDK_DISABLED from the environment the settings
// come from (with the config file and a dev stack's settings), as the
// OpenTelemetry SDK does not read it: set there, telemetry is off although
// the process's environment names an exporter.
func TestTelemetryOffByTheGivenEnvironment(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_SDK_DISABLED", "")
	for _, c := range []struct {
		env worker.Env
		off bool
	}{{worker.Env{"OTEL_SDK_DISABLED": "true"}, true}, {worker.Env{}, false}} {
		tel, stop, err := startTelemetry(context.Background(), c.env, worker.DefaultConfig(), "novaflow-test", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		stop()
		if _, off := tel.TracerProvider().(tracenoop.TracerProvider); off != c.off {
			t.Errorf("with %v: tracer provider %T, want off %t", c.env, tel.TracerProvider(), c.off)
		}
	}
	otel.SetTracerProvider(tracenoop.NewTracerProvider())
}
