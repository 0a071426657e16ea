package telemetry

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ServiceCount is how many services of a topic the services table has in one
// state.
type ServiceCount struct {
	Topic string
	// State is "up", "down" or "unknown" (servicegroup.Status: up when last
	// seen, but the topic's status report has not run for a while).
	State    string
	Disabled bool
	Count    int
}

// CountServices reads the services table (see worker, which counts with
// servicegroup).
type CountServices func(ctx context.Context) ([]ServiceCount, error)

// countTimeout bounds one reading of the services table at collection time.
const countTimeout = 2 * time.Second

// ObserveServices publishes MetricServices: when the metrics are collected
// (a /metrics scrape, an OTLP export) it calls count, at most once per ttl,
// and reuses the last counts in between, so that frequent scrapes cost the
// database one cheap query every ttl. Every state of a topic that was ever
// seen is published, with 0 when no service is in it now. When count fails
// the gauge is left out of that collection and the error goes to
// OpenTelemetry's error handler (once per ttl). stop unregisters the gauge.
func (in *Instruments) ObserveServices(count CountServices, ttl time.Duration) (stop func() error, err error) {
	if in == nil || !in.on {
		return func() error { return nil }, nil
	}
	g, err := in.meter.Int64ObservableGauge(MetricServices, metric.WithUnit("{service}"),
		metric.WithDescription("Services by topic, state (up, down or unknown) and status (enabled or disabled), as the services table shows them"))
	if err != nil {
		return nil, fmt.Errorf("observe services: %w", err)
	}
	o := &servicesObserver{count: count, ttl: ttl, seen: map[serviceState]bool{}}
	reg, err := in.meter.RegisterCallback(func(ctx context.Context, obs metric.Observer) error {
		counts, ok := o.get(ctx)
		if !ok {
			return nil
		}
		for _, st := range o.states() {
			obs.ObserveInt64(g, int64(counts[st]), metric.WithAttributeSet(st.attributes()))
		}
		return nil
	}, g)
	if err != nil {
		return nil, fmt.Errorf("observe services: %w", err)
	}
	return reg.Unregister, nil
}

// serviceState is one series of MetricServices.
type serviceState struct {
	topic, state string
	disabled     bool
}

// serviceStates are the states a service can be in, each published per topic.
var serviceStates = []string{"up", "down", "unknown"}

func (s serviceState) attributes() attribute.Set {
	state, status := s.state, "enabled"
	if s.disabled {
		status = "disabled"
	}
	return attribute.NewSet(TopicKey.String(s.topic), StateKey.String(state), StatusKey.String(status))
}

// servicesObserver caches the counts of the services table.
type servicesObserver struct {
	count CountServices
	ttl   time.Duration

	mu     sync.Mutex
	at     time.Time // of the last reading, failed or not
	ok     bool      // the last reading succeeded
	counts map[serviceState]int
	seen   map[serviceState]bool // every series published so far
}

// get returns the counts, reading them again when the last reading is older
// than the ttl; ok is false when the last reading failed.
func (o *servicesObserver) get(ctx context.Context) (map[serviceState]int, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.at.IsZero() && time.Since(o.at) < o.ttl {
		return o.counts, o.ok
	}
	ctx, cancel := context.WithTimeout(ctx, countTimeout)
	defer cancel()
	rows, err := o.count(ctx)
	o.at = time.Now()
	if err != nil {
		o.ok = false
		otel.Handle(fmt.Errorf("count services for %s: %w", MetricServices, err))
		return nil, false
	}
	counts := map[serviceState]int{}
	topics := map[string]bool{}
	for _, r := range rows {
		counts[serviceState{topic: r.Topic, state: r.State, disabled: r.Disabled}] += r.Count
		topics[r.Topic] = true
	}
	for topic := range topics {
		for _, state := range serviceStates {
			for _, disabled := range []bool{false, true} {
				o.seen[serviceState{topic: topic, state: state, disabled: disabled}] = true
			}
		}
	}
	o.counts, o.ok = counts, true
	return counts, true
}

// states lists the series to publish, in a stable order.
func (o *servicesObserver) states() []serviceState {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]serviceState, 0, len(o.seen))
	for st := range o.seen {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.topic != b.topic {
			return a.topic < b.topic
		}
		if a.state != b.state {
			return a.state > b.state
		}
		return !a.disabled && b.disabled
	})
	return out
}
