package worker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/workflows"
)

// TestPlanSchedules pins what the schedules of a topic are (docs/schedules.md)
// and oslo.service's timing rules: spacing 0 is 60 s, a negative spacing or
// Disabled drops the task's schedule, periodic_interval_max never shortens a
// spacing, the hosts are spread over min(fuzzy delay, spacing / 2), and
// periodic_enable=false plans no periodic schedule.
func TestPlanSchedules(t *testing.T) {
	run := func(context.Context) error { return nil }
	base := Config{ReportInterval: 10 * time.Second, PeriodicEnable: true, PeriodicFuzzyDelay: 60 * time.Second, RunExternalPeriodicTasks: true}
	tasks := []managers.PeriodicTask{
		{Name: "default_spacing", Run: run},
		{Name: "fast", Spacing: 10 * time.Second, Run: run, RunImmediately: true},
		{Name: "slow", Spacing: 2 * time.Hour, Run: run},
		{Name: "off", Spacing: time.Minute, Disabled: true, Run: run},
		{Name: "negative", Spacing: -time.Second, Run: run},
		// Scheduled for the topic: a host that runs no external tasks skips
		// it (activities.Periodic's gate), the others run it.
		{Name: "external", Spacing: time.Minute, ExternalProcessOK: true, Run: run},
	}
	type sched struct{ every, spread time.Duration }
	tests := []struct {
		name     string
		cfg      func(*Config)
		want     map[string]sched
		wantDrop []string
	}{
		{
			name: "defaults",
			want: map[string]sched{
				"report:compute":                   {every: 10 * time.Second},
				"periodic:compute:default_spacing": {every: time.Minute, spread: 30 * time.Second},
				"periodic:compute:fast":            {every: 10 * time.Second, spread: 5 * time.Second},
				"periodic:compute:slow":            {every: 2 * time.Hour, spread: time.Minute},
				"periodic:compute:external":        {every: time.Minute, spread: 30 * time.Second},
			},
			wantDrop: []string{"periodic:compute:off", "periodic:compute:negative"},
		},
		{
			// oslo.service: periodic_interval_max caps how long the loop
			// sleeps, never a task's spacing.
			name: "interval max never shortens a spacing, no fuzzy delay, reports off, no external tasks",
			cfg: func(c *Config) {
				c.PeriodicIntervalMax = 30 * time.Second
				c.PeriodicFuzzyDelay = 0
				c.ReportInterval = 0
				c.RunExternalPeriodicTasks = false
			},
			want: map[string]sched{
				"periodic:compute:default_spacing": {every: time.Minute},
				"periodic:compute:fast":            {every: 10 * time.Second},
				"periodic:compute:slow":            {every: 2 * time.Hour},
				"periodic:compute:external":        {every: time.Minute},
			},
			// Reports off: the topic's report schedule is left as it is.
			wantDrop: []string{"periodic:compute:off", "periodic:compute:negative"},
		},
		{
			name: "fuzzy delay below half the spacing",
			cfg:  func(c *Config) { c.PeriodicFuzzyDelay = 2 * time.Second },
			want: map[string]sched{
				"report:compute":                   {every: 10 * time.Second},
				"periodic:compute:default_spacing": {every: time.Minute, spread: 2 * time.Second},
				"periodic:compute:fast":            {every: 10 * time.Second, spread: 2 * time.Second},
				"periodic:compute:slow":            {every: 2 * time.Hour, spread: 2 * time.Second},
				"periodic:compute:external":        {every: time.Minute, spread: 2 * time.Second},
			},
			wantDrop: []string{"periodic:compute:off", "periodic:compute:negative"},
		},
		{
			// The service neither creates nor updates the topic's periodic
			// schedules; its host skips every task.
			name:     "periodic tasks off",
			cfg:      func(c *Config) { c.PeriodicEnable = false },
			want:     map[string]sched{"report:compute": {every: 10 * time.Second}},
			wantDrop: []string{"periodic:compute:off", "periodic:compute:negative"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			p, err := planSchedules(cfg, "compute", tasks)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]sched{}
			for _, s := range p.want {
				if s.offset < 0 || s.offset >= s.every {
					t.Errorf("%s: offset %s outside [0, %s)", s.id, s.offset, s.every)
				}
				if s.queue != "compute" {
					t.Errorf("%s: runs on queue %q, want the topic's queue compute", s.id, s.queue)
				}
				if s.timeout < s.every {
					t.Errorf("%s: run timeout %s shorter than the interval %s", s.id, s.timeout, s.every)
				}
				if !sameAttributes(s.attrs, searchAttributes("compute", "", s.method)) {
					t.Errorf("%s: search attributes %v", s.id, attrMap(s.attrs))
				}
				switch {
				case s.method == workflows.ReportStateMethod:
					// One run reports every report_interval for
					// ReportRunLength; the next run starts when it ends
					// (buffer-one), and a run is always going.
					length := max(ReportRunLength, cfg.ReportInterval)
					if s.id != ReportScheduleID("compute") || s.workflow != "compute.report_state" || s.every != length ||
						s.overlap != enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE || !s.running || s.task != nil {
						t.Errorf("report: %s every %s runs %s, overlap %s, always running %t", s.id, s.every, s.workflow, s.overlap, s.running)
					}
					if s.timeout < length+cfg.ReportInterval {
						t.Errorf("report: run timeout %s leaves no time for the last report of a run of %s", s.timeout, length)
					}
					req, ok := s.arg.(workflows.ReportRequest)
					if !ok || req.Topic != "compute" || req.Asked || req.Alive != nil || req.For != length.String() {
						t.Fatalf("report: input %#v", s.arg)
					}
					every, err := time.ParseDuration(req.Every)
					if err != nil {
						t.Fatalf("report: every %q: %v", req.Every, err)
					}
					got[s.id] = sched{every: every}
				default:
					if s.id != PeriodicScheduleID("compute", s.method) || s.workflow != workflows.PeriodicName("compute", s.method) {
						t.Errorf("%s: task %s runs workflow %s", s.id, s.method, s.workflow)
					}
					if s.overlap != enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL {
						t.Errorf("%s: overlap %s, want allow-all (each host skips while its own run goes on)", s.id, s.overlap)
					}
					if s.task == nil || s.task.Name != s.method || s.running {
						t.Errorf("%s: task %+v", s.id, s.task)
					}
					if s.timeout != workflows.PeriodicTaskTimeout+s.every {
						t.Errorf("%s: run timeout %s", s.id, s.timeout)
					}
					req, ok := s.arg.(workflows.PeriodicRequest)
					if !ok || req.Topic != "compute" || req.Task != s.method || len(req.Hosts) != 0 || req.Host != "" {
						t.Fatalf("%s: input %#v, want every host of the topic", s.id, s.arg)
					}
					spread, err := time.ParseDuration(req.Spread)
					if err != nil {
						t.Fatalf("%s: spread %q: %v", s.id, req.Spread, err)
					}
					got[s.id] = sched{every: s.every, spread: spread}
				}
			}
			if len(got) != len(tt.want) || len(got) != len(p.want) {
				t.Errorf("want %d schedules, got %v", len(tt.want), got)
			}
			for id, w := range tt.want {
				if g, ok := got[id]; !ok || g != w {
					t.Errorf("%s = %+v (planned %t), want %+v", id, g, ok, w)
				}
			}
			slices.Sort(p.drop)
			slices.Sort(tt.wantDrop)
			if !slices.Equal(p.drop, tt.wantDrop) {
				t.Errorf("drop = %v, want %v", p.drop, tt.wantDrop)
			}
			// Every declared task is the topic's, wanted or not: none of
			// their schedules is stale.
			for _, task := range tasks {
				if !p.tasks[task.Name] {
					t.Errorf("declared task %s missing from the plan's tasks", task.Name)
				}
			}
		})
	}
}

func TestPlanSchedulesRejects(t *testing.T) {
	run := func(context.Context) error { return nil }
	cfg := Config{ReportInterval: 10 * time.Second, PeriodicEnable: true}
	tests := []struct {
		name  string
		cfg   func(*Config)
		tasks []managers.PeriodicTask
	}{
		{name: "bad name", tasks: []managers.PeriodicTask{{Name: "Bad-Name", Run: run}}},
		{name: "name with a colon", tasks: []managers.PeriodicTask{{Name: "a:b", Run: run}}},
		{name: "duplicate", tasks: []managers.PeriodicTask{{Name: "a", Run: run}, {Name: "a", Run: run}}},
		{name: "nil run", tasks: []managers.PeriodicTask{{Name: "a"}}},
		{name: "sub-second spacing", tasks: []managers.PeriodicTask{{Name: "a", Spacing: time.Millisecond, Run: run}}},
		{name: "sub-second report interval", cfg: func(c *Config) { c.ReportInterval = time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			if _, err := planSchedules(c, "compute", tt.tasks); err == nil {
				t.Fatal("planSchedules accepted it")
			}
		})
	}
	_, err := planSchedules(Config{ReportInterval: time.Millisecond}, "compute", nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Setting != "NOVAFLOW_REPORT_INTERVAL" {
		t.Errorf("error %v does not name NOVAFLOW_REPORT_INTERVAL", err)
	}
}

// TestScheduleIDs pins the IDs operators type, and those of the per-service
// design that services delete.
func TestScheduleIDs(t *testing.T) {
	for got, want := range map[string]string{
		ReportScheduleID("compute"):                        "report:compute",
		PeriodicScheduleID("compute", "sync_power_states"): "periodic:compute:sync_power_states",
		legacyReportID("novaflow-compute", "node1"):        "report:novaflow-compute:node1",
		legacyPeriodicPrefix("compute", "node1") + "sync":  "periodic:compute:node1:sync",
	} {
		if got != want {
			t.Errorf("schedule ID %q, want %q", got, want)
		}
	}
	if !strings.HasPrefix(StartedNote, NotePrefix) {
		t.Error("the service's note does not start with NotePrefix")
	}
}

func TestPhaseIsStableAndSpread(t *testing.T) {
	every := 10 * time.Second
	if phase("report:a", every) != phase("report:a", every) {
		t.Fatal("phase is not stable")
	}
	seen := map[time.Duration]bool{}
	for _, topic := range []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"} {
		seen[phase(ReportScheduleID(topic), every)] = true
	}
	if len(seen) < 6 {
		t.Errorf("8 topics share %d phases", len(seen))
	}
}

// TestWorkerHeartbeatInterval: heartbeats every quarter of the report
// interval, within the SDK's 1 s to 60 s; the SDK's default when reports are
// off.
func TestWorkerHeartbeatInterval(t *testing.T) {
	for report, want := range map[time.Duration]time.Duration{
		0: 0, time.Second: time.Second, 10 * time.Second: 2500 * time.Millisecond, time.Hour: time.Minute,
	} {
		if got := (Config{ReportInterval: report}).workerHeartbeatInterval(); got != want {
			t.Errorf("report_interval %s: heartbeats every %s, want %s", report, got, want)
		}
	}
}
