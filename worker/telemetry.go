package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/telemetry"
)

// servicesTTL is how long the services gauge reuses one reading of the
// services table: scrapes more frequent than that cost the database nothing.
const servicesTTL = 5 * time.Second

// observeServices publishes telemetry.MetricServices for the process: the
// services of every topic, up, down or unknown (servicegroup.Status), as the first
// service's database shows them with its service_down_time. The returned
// function stops it.
func observeServices(services []*Service, logger *slog.Logger) (stop func()) {
	if len(services) == 0 {
		return func() {}
	}
	s := services[0]
	s.mu.Lock()
	store, downTime := s.store, s.cfg.DownTime()
	s.mu.Unlock()
	if store == nil {
		return func() {}
	}
	unregister, err := telemetry.NewInstruments().ObserveServices(countServices(store, downTime), servicesTTL)
	if err != nil {
		logger.Warn("the services gauge is not published", "error", err)
		return func() {}
	}
	return func() { _ = unregister() }
}

// countServices counts the live rows of the services table by topic, state
// and status.
func countServices(store *servicegroup.Store, downTime time.Duration) telemetry.CountServices {
	return func(ctx context.Context) ([]telemetry.ServiceCount, error) {
		rows, now, err := store.List(ctx, servicegroup.Filter{})
		if err != nil {
			return nil, err
		}
		out := make([]telemetry.ServiceCount, 0, len(rows))
		for _, r := range rows {
			out = append(out, telemetry.ServiceCount{
				Topic: r.Topic, State: string(servicegroup.Status(r, now, downTime)), Disabled: r.Disabled, Count: 1,
			})
		}
		return out, nil
	}
}
