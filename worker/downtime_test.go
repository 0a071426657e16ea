package worker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestRaisedDownTimeIsLogged: a service_down_time below 2.5 x report_interval
// is raised, with a warning that names both settings and the new value, as
// nova's servicegroup API logs it; one at or above it is kept silently.
func TestRaisedDownTimeIsLogged(t *testing.T) {
	for _, c := range []struct {
		down, report time.Duration
		warn         string
	}{
		{down: 10 * time.Second, report: 10 * time.Second, warn: "new_service_down_time=25s"},
		{down: 20 * time.Second, report: 10 * time.Second, warn: "new_service_down_time=25s"},
		{down: 25 * time.Second, report: 10 * time.Second},
		{down: 60 * time.Second, report: 10 * time.Second},
		{down: 5 * time.Second, report: 0},
	} {
		var buf bytes.Buffer
		cfg := DefaultConfig()
		cfg.Host, cfg.ServiceDownTime, cfg.ReportInterval = "h1", c.down, c.report
		if _, err := Create(cfg, Options{Topic: lifecycleTopic, Logger: slog.New(slog.NewTextHandler(&buf, nil))}); err != nil {
			t.Fatal(err)
		}
		got := buf.String()
		switch {
		case c.warn == "" && strings.Contains(got, "service_down_time"):
			t.Errorf("down %s, report %s: unexpected warning %q", c.down, c.report, got)
		case c.warn != "" && (!strings.Contains(got, "level=WARN") || !strings.Contains(got, c.warn) ||
			!strings.Contains(got, "service_down_time="+c.down.String()) || !strings.Contains(got, "report_interval="+c.report.String())):
			t.Errorf("down %s, report %s: log %q, want a warning with %s", c.down, c.report, got, c.warn)
		}
	}
}
