package managers

import (
	"context"
	"time"
)

// DefaultSpacing is the interval of a periodic task declared with Spacing 0
// (oslo.service's DEFAULT_INTERVAL).
const DefaultSpacing = 60 * time.Second

// PeriodicTask is a task every service of the topic runs on its own host
// every Spacing, as oslo.service's @periodic_task. Each task has its own
// Temporal Schedule for the topic, and each host runs its part on its own, so
// tasks and hosts never wait for each other (docs/schedules.md). The hosts of
// a topic are spread over min(periodic_fuzzy_delay, Spacing/2): each waits a
// fixed delay in that window, derived from its name and the task's, so the
// jitter is at most half the spacing and a host's runs stay Spacing apart.
// A task runs beside the manager's RPC methods, in the same process.
type PeriodicTask struct {
	// Name is the task's name, snake_case (update_available_resource).
	Name string
	// Spacing is the interval between runs; 0 means DefaultSpacing, and a
	// negative spacing disables the task (as oslo.service's).
	Spacing time.Duration
	// RunImmediately runs the task on the service's host each time the
	// service starts, after a random part of periodic_fuzzy_delay (oslo's
	// first round), instead of first waiting for the schedule's next run.
	RunImmediately bool
	// Disabled declares the task without running it (oslo's enabled=False).
	Disabled bool
	// ExternalProcessOK marks a task that may run in a separate process; a
	// service started with NOVAFLOW_RUN_EXTERNAL_PERIODIC_TASKS=false skips it.
	ExternalProcessOK bool
	// RaiseOnError fails the run (red in the Web UI) when Run fails; otherwise
	// the failure is logged and the run succeeds.
	RaiseOnError bool
	// Run does the work.
	Run func(ctx context.Context) error
}

// Interval is the task's effective interval: Spacing (or DefaultSpacing),
// capped by intervalMax when that is set. novaflow's schedules call it with
// no cap: oslo.service's periodic_interval_max caps how long its loop sleeps,
// never a task's spacing.
func (t PeriodicTask) Interval(intervalMax time.Duration) time.Duration {
	d := t.Spacing
	if d <= 0 {
		d = DefaultSpacing
	}
	if intervalMax > 0 && d > intervalMax {
		d = intervalMax
	}
	return d
}
