package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/novaflow/novaflow/telemetry"
	"github.com/novaflow/novaflow/worker"
)

// telemetryShutdownTimeout bounds the last export at exit, so that an
// unreachable collector does not hold the process.
const telemetryShutdownTimeout = 5 * time.Second

// startTelemetry sets up the process's telemetry from the OTEL_* environment
// (docs/observability.md) before its services start: they take the tracer
// and meter providers when they connect. Metrics are kept for /metrics when
// there is a health address. OTEL_PROPAGATORS and OTEL_SDK_DISABLED are read
// from env, the environment the settings come from; the OpenTelemetry SDK
// reads the rest itself. stop flushes what is not exported yet.
func startTelemetry(ctx context.Context, env worker.Env, cfg worker.Config, serviceName string, logger *slog.Logger) (tel *telemetry.Telemetry, stop func(), err error) {
	tel, err = telemetry.Setup(ctx, telemetry.Config{
		ServiceName:    serviceName,
		ServiceVersion: currentVersion().Version,
		Host:           cfg.Host,
		Prometheus:     cfg.HealthAddress != "",
		Logger:         logger,
		Propagators:    env.Get("OTEL_PROPAGATORS"),
		SDKDisabled:    env.Get("OTEL_SDK_DISABLED"),
	})
	if err != nil {
		return nil, nil, err
	}
	return tel, func() {
		ctx, cancel := context.WithTimeout(context.Background(), telemetryShutdownTimeout)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			logger.Warn("telemetry not flushed", "error", err)
		}
	}, nil
}

// withMetrics serves tel's metrics on h's /metrics, when it has them.
func withMetrics(h *worker.Health, tel *telemetry.Telemetry) *worker.Health {
	if m := tel.Handler(); m != nil {
		h.Handle("/metrics", m)
	}
	return h
}
