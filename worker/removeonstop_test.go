package worker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
)

// TestRemoveOnStop: two replicas of a stateless topic with
// NOVAFLOW_REMOVE_ON_STOP, as a Kubernetes Deployment runs them; one stops
// gracefully (a rollout), and its row is gone at once and stays gone (no
// report recreates it), while the other stays up. A third, SIGKILLed,
// still shows down, as nova's crashed services do.
func TestRemoveOnStop(t *testing.T) {
	t.Parallel()
	h := newHarnessOf(t, true)
	cfgA, cfgB, cfgC := h.config(testenv.UniqueName(t, "a")), h.config(testenv.UniqueName(t, "b")), h.config(testenv.UniqueName(t, "c"))
	cfgA.RemoveOnStop, cfgB.RemoveOnStop, cfgC.RemoveOnStop = true, true, true
	downTime := cfgA.DownTime()
	a := h.start(cfgA)
	h.start(cfgB)
	child := startChild(t, h, cfgC)
	upAndReported := func(host string) func() bool {
		return func() bool {
			st, r := h.status(host, downTime)
			return st == servicegroup.Up && r.ReportCount >= 1
		}
	}
	for _, host := range []string{cfgA.Host, cfgB.Host, cfgC.Host} {
		eventually(t, 60*time.Second, host+" to be up and reported", upAndReported(host))
	}

	a.Stop(context.Background())
	if r := h.record(cfgA.Host); r != nil {
		t.Fatalf("the gracefully stopped replica's row is still there: %+v", r)
	}
	if n := a.logs.count("service record deleted on stop"); n != 1 {
		t.Errorf("the delete was logged %d times, want once", n)
	}

	child.kill()
	killed := time.Now()
	eventually(t, downTime+10*time.Second, "the SIGKILLed replica to show down", func() bool {
		st, _ := h.status(cfgC.Host, downTime)
		return st == servicegroup.Down
	})
	t.Logf("SIGKILLed replica down after %s", time.Since(killed).Round(time.Millisecond))
	// Reports went on meanwhile: none recreated the stopped replica's row.
	if r := h.record(cfgA.Host); r != nil {
		t.Errorf("a report recreated the stopped replica's row: %+v", r)
	}
	if st, _ := h.status(cfgB.Host, downTime); st != servicegroup.Up {
		t.Errorf("the replica that stayed is %s, want up", st)
	}
	if st, r := h.status(cfgC.Host, downTime); st != servicegroup.Down || r == nil {
		t.Errorf("the SIGKILLed replica is %q, want down with its row", st)
	}
}

// TestRemoveOnStopKeepsStatefulRows: a topic that keeps state on its host
// (compute: instances, its compute_nodes row) refuses
// NOVAFLOW_REMOVE_ON_STOP, and its gracefully stopped service keeps its row.
func TestRemoveOnStopKeepsStatefulRows(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := h.config(testenv.UniqueName(t, "h"))
	cfg.RemoveOnStop = true
	_, err := Create(cfg, Options{Topic: h.topic})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Setting != "NOVAFLOW_REMOVE_ON_STOP" || !strings.Contains(err.Error(), "not managers.Definition.Stateless") {
		t.Fatalf("Create with NOVAFLOW_REMOVE_ON_STOP on a stateful topic: %v", err)
	}
	cfg.RemoveOnStop = false
	svc := h.start(cfg)
	eventually(t, 30*time.Second, "the service to be reported", func() bool { r := h.record(cfg.Host); return r != nil && r.ReportCount >= 1 })
	svc.Stop(context.Background())
	if r := h.record(cfg.Host); r == nil {
		t.Fatal("a stopped service of a stateful topic lost its row")
	}
}
