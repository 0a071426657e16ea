package worker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
)

func TestPlanSchedules(t *testing.T) {
	run := func(context.Context) error { return nil }
	base := Config{ReportInterval: 10 * time.Second, PeriodicEnable: true, PeriodicFuzzyDelay: 60 * time.Second, RunExternalPeriodicTasks: true}
	tasks := []managers.PeriodicTask{
		{Name: "default_spacing", Run: run},
		{Name: "fast", Spacing: 10 * time.Second, Run: run, RunImmediately: true},
		{Name: "slow", Spacing: 2 * time.Hour, Run: run},
		{Name: "off", Spacing: time.Minute, Disabled: true, Run: run},
		{Name: "external", Spacing: time.Minute, ExternalProcessOK: true, Run: run},
	}
	type sched struct {
		every, jitter time.Duration
		immediate     bool
	}
	tests := []struct {
		name     string
		cfg      func(*Config)
		want     map[string]sched
		wantDrop []string
	}{
		{
			name: "defaults",
			want: map[string]sched{
				"report:novaflow-compute:h1":          {every: 10 * time.Second, immediate: true},
				"periodic:compute:h1:default_spacing": {every: time.Minute, jitter: 30 * time.Second},
				"periodic:compute:h1:fast":            {every: 10 * time.Second, jitter: 5 * time.Second, immediate: true},
				"periodic:compute:h1:slow":            {every: 2 * time.Hour, jitter: time.Minute},
				"periodic:compute:h1:external":        {every: time.Minute, jitter: 30 * time.Second},
			},
			wantDrop: []string{"periodic:compute:h1:off"},
		},
		{
			name: "interval max caps, no fuzzy delay, reports off",
			cfg: func(c *Config) {
				c.PeriodicIntervalMax = 30 * time.Second
				c.PeriodicFuzzyDelay = 0
				c.ReportInterval = 0
				c.RunExternalPeriodicTasks = false
			},
			want: map[string]sched{
				"periodic:compute:h1:default_spacing": {every: 30 * time.Second},
				"periodic:compute:h1:fast":            {every: 10 * time.Second, immediate: true},
				"periodic:compute:h1:slow":            {every: 30 * time.Second},
			},
			wantDrop: []string{"report:novaflow-compute:h1", "periodic:compute:h1:off", "periodic:compute:h1:external"},
		},
		{
			name: "periodic tasks off",
			cfg:  func(c *Config) { c.PeriodicEnable = false },
			want: map[string]sched{"report:novaflow-compute:h1": {every: 10 * time.Second, immediate: true}},
			wantDrop: []string{"periodic:compute:h1:default_spacing", "periodic:compute:h1:fast", "periodic:compute:h1:slow",
				"periodic:compute:h1:off", "periodic:compute:h1:external"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			p, err := planSchedules(cfg, "compute", "novaflow-compute", "h1", tasks)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]sched{}
			for _, s := range p.want {
				got[s.id] = sched{every: s.every, jitter: s.jitter, immediate: s.immediate}
				if s.offset < 0 || s.offset >= s.every {
					t.Errorf("%s: offset %s outside [0, %s)", s.id, s.offset, s.every)
				}
				if s.queue != "compute.h1" {
					t.Errorf("%s: queue %q", s.id, s.queue)
				}
				if s.timeout < s.every {
					t.Errorf("%s: run timeout %s shorter than the interval %s", s.id, s.timeout, s.every)
				}
				wantType := activities.PeriodicName("compute", s.method)
				if s.method == activities.ReportStateMethod {
					wantType = "compute.report_state"
				}
				if s.workflow != wantType {
					t.Errorf("%s: workflow %q, want %q", s.id, s.workflow, wantType)
				}
				if s.jitter >= s.every {
					t.Errorf("%s: jitter %s not below the interval %s", s.id, s.jitter, s.every)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("want %d schedules, got %v", len(tt.want), got)
			}
			for id, w := range tt.want {
				if got[id] != w {
					t.Errorf("%s = %+v, want %+v", id, got[id], w)
				}
			}
			slices.Sort(p.drop)
			slices.Sort(tt.wantDrop)
			if !slices.Equal(p.drop, tt.wantDrop) {
				t.Errorf("drop = %v, want %v", p.drop, tt.wantDrop)
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
			if _, err := planSchedules(c, "compute", "novaflow-compute", "h1", tt.tasks); err == nil {
				t.Fatal("planSchedules accepted it")
			}
		})
	}
	_, err := planSchedules(Config{ReportInterval: time.Millisecond}, "compute", "novaflow-compute", "h1", nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Setting != "NOVAFLOW_REPORT_INTERVAL" {
		t.Errorf("error %v does not name NOVAFLOW_REPORT_INTERVAL", err)
	}
}

func TestPhaseIsStableAndSpread(t *testing.T) {
	every := 10 * time.Second
	if phase("report:a:h1", every) != phase("report:a:h1", every) {
		t.Fatal("phase is not stable")
	}
	seen := map[time.Duration]bool{}
	for _, h := range []string{"h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"} {
		seen[phase(ReportScheduleID("novaflow-compute", h), every)] = true
	}
	if len(seen) < 6 {
		t.Errorf("8 hosts share %d phases", len(seen))
	}
}
