package worker

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
)

// child is a service of a test's topic running in a subprocess (the test
// binary re-executed with helperEnv), as `novaflow run <topic>` would run.
type child struct {
	cmd *exec.Cmd
	out *testenv.Buffer
}

// startChild starts a service process of h's topic with cfg's settings.
func startChild(t *testing.T, h *harness, cfg Config) *child {
	t.Helper()
	env := []string{helperEnv + "=" + h.topic}
	if h.stateless {
		env = append(env, helperStatelessEnv+"=1")
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvPrefix+"_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	for k, v := range map[string]string{
		"HOST": cfg.Host, "TEMPORAL_ADDRESS": cfg.TemporalAddress, "TEMPORAL_NAMESPACE": cfg.TemporalNamespace,
		"DATABASE_URL": cfg.DatabaseURL, "REPORT_INTERVAL": cfg.ReportInterval.String(),
		"SERVICE_DOWN_TIME": cfg.ServiceDownTime.String(), "PERIODIC_FUZZY_DELAY": "0s", "LOG_LEVEL": "info",
		"REMOVE_ON_STOP": strconv.FormatBool(cfg.RemoveOnStop),
	} {
		env = append(env, EnvPrefix+"_"+k+"="+v)
	}
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), out: &testenv.Buffer{}}
	c.cmd.Env = env
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("service process output:\n%s", c.out.String())
		}
	})
	return c
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

// killedServiceGoesDown starts a service process next to an in-process
// service of the same topic (which goes on running the topic's reports),
// waits until the process is up and counted by a report, kills it with
// SIGKILL and measures how long `service list` keeps showing it up; then
// starts it again and measures how soon it is up. With holder, the process
// is the one that runs the topic's report run when it is killed: the reports
// stop until the run's workflow task moves to the other service, which must
// never show down meanwhile.
func killedServiceGoesDown(t *testing.T, report, serviceDown, bound time.Duration, holder bool) {
	h := newHarness(t)
	cfg := h.config(testenv.UniqueName(t, "host"))
	cfg.ReportInterval, cfg.ServiceDownTime = report, serviceDown
	downTime := cfg.DownTime()
	observer := h.config(testenv.UniqueName(t, "observer"))
	observer.ReportInterval, observer.ServiceDownTime = report, serviceDown
	upAndReported := func(host string) func() bool {
		return func() bool {
			st, r := h.status(host, downTime)
			return st == servicegroup.Up && r.ReportCount >= 1
		}
	}

	var first *child
	if holder {
		first = startChild(t, h, cfg)
		eventually(t, 60*time.Second, "the service process to run the report run", func() bool {
			return h.reportHolder() == activities.Identity(h.binary, cfg.Host)
		})
	}
	h.start(observer)
	if !holder {
		first = startChild(t, h, cfg)
	}
	took := eventually(t, 60*time.Second, "the service process to be up and reported", upAndReported(cfg.Host))
	t.Logf("process up and reported %s after exec", took.Round(time.Millisecond))
	eventually(t, 60*time.Second, "the in-process service to be up and reported", upAndReported(observer.Host))

	killed := time.Now()
	first.kill()
	var states []string
	last := servicegroup.Up
	took = eventually(t, bound+10*time.Second, "the killed service to be down", func() bool {
		if st, r := h.status(observer.Host, downTime); st != last {
			states = append(states, fmt.Sprintf("%s at +%s (%s)", st, time.Since(killed).Round(time.Millisecond), describeLiveness(r, killed)))
			last = st
			if st == servicegroup.Down {
				t.Fatalf("the service that stayed showed down: %v", states)
			}
		}
		st, _ := h.status(cfg.Host, downTime)
		return st == servicegroup.Down
	})
	_, after := h.status(cfg.Host, downTime)
	t.Logf("report_interval %s, effective service_down_time %s: SIGKILLed service down after %s (bound %s); the other service: %v",
		cfg.ReportInterval, downTime, took.Round(time.Millisecond), bound, states)
	if took > bound {
		t.Errorf("the killed service showed up for %s, want at most %s", took, bound)
	}
	if after.LastSeenUp.After(killed.Add(250 * time.Millisecond)) {
		t.Errorf("last_seen_up %s is after the kill (%s)", after.LastSeenUp.Format(time.RFC3339Nano), killed.Format(time.RFC3339Nano))
	}
	eventually(t, 2*downTime, "the service that stayed to be up", func() bool {
		st, _ := h.status(observer.Host, downTime)
		return st == servicegroup.Up
	})
	if got := h.reportHolder(); got != activities.Identity(h.binary, observer.Host) {
		t.Errorf("the report run is run by %q, want the service that stayed", got)
	}

	startChild(t, h, cfg)
	took = eventually(t, 60*time.Second, "the restarted service to be up", func() bool {
		st, _ := h.status(cfg.Host, downTime)
		return st == servicegroup.Up
	})
	t.Logf("restarted service up %s after exec", took.Round(time.Millisecond))
}

// describeLiveness says what a row's liveness is judged on, in times from
// since.
func describeLiveness(r *servicegroup.Record, since time.Time) string {
	at := func(t *time.Time) string {
		if t == nil {
			return "none"
		}
		return "+" + t.Sub(since).Round(time.Millisecond).String()
	}
	out := fmt.Sprintf("last_seen_up %s, report_count %d", at(r.LastSeenUp), r.ReportCount)
	if o := r.Observer; o != nil {
		out += fmt.Sprintf(", observed %s, observing since %s, last before a gap %s", at(&o.ObservedAt), at(&o.ObservingSince), at(o.LastBeforeGap))
	}
	return out
}

func TestKilledServiceGoesDown(t *testing.T) {
	t.Parallel()
	// Down when its last heartbeat is older than 2.5 s; the last one was
	// sent before the kill.
	killedServiceGoesDown(t, time.Second, 2*time.Second, 2500*time.Millisecond+time.Second, false)
}

// TestKilledReportRunnerGoesDown kills the service that runs the topic's
// report run: the reports stop until its workflow task moves to the other
// service (Temporal's sticky queue timeout, 5 s), which may show unknown
// meanwhile, never down; the killed one is down service_down_time after the
// reports resume, at the latest. Reports every 2 s, so that each sees a
// heartbeat of each live service that no report counted yet (heartbeats
// every second).
func TestKilledReportRunnerGoesDown(t *testing.T) {
	t.Parallel()
	killedServiceGoesDown(t, 2*time.Second, 5*time.Second, 20*time.Second, true)
}

// TestKilledServiceGoesDownWithin30sAtDefaults checks the promise of the
// defaults (report_interval 10s, service_down_time 25s): `service list` shows
// a SIGKILLed service down within 30 s. It takes 20 to 25 s.
func TestKilledServiceGoesDownWithin30sAtDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("takes up to 25 s")
	}
	t.Parallel()
	killedServiceGoesDown(t, 10*time.Second, 25*time.Second, 30*time.Second, false)
}

// TestReportsRecoverAfterDatabaseRestart stops the service's PostgreSQL under
// it and starts it again on the same data directory and port: the failure is
// logged once, the service keeps running, and reports resume (logged as
// recovered) without a restart.
func TestReportsRecoverAfterDatabaseRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	dir, err := os.MkdirTemp("", "novaflow-reporttest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // PostgreSQL runs as postgres when the test runs as root.
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := devstack.PostgresOptions{DataDir: filepath.Join(dir, "pg")}
	pg, err := devstack.StartPostgres(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	u, err := url.Parse(pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	if opts.Port, err = strconv.Atoi(u.Port()); err != nil {
		t.Fatal(err)
	}

	cfg := h.config(testenv.UniqueName(t, "host"))
	cfg.DatabaseURL = pg.URL()
	svc := h.start(cfg)
	own := servicegroup.NewStore(h.pool(pg.URL()))
	eventually(t, 10*time.Second, "the first report", func() bool {
		r, err := own.Get(ctx, cfg.Host, h.binary)
		return err == nil && r.ReportCount >= 1
	})

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	eventually(t, 20*time.Second, "three failed reports", func() bool {
		return svc.logs.count("level=ERROR", "status report failed") == 1 && svc.logs.count("level=DEBUG", "status report failed again") >= 2
	})
	t.Logf("3 reports failed in the %s after PostgreSQL stopped", time.Since(stopped).Round(time.Millisecond))
	if !svc.Ready() {
		t.Fatal("the service stopped with its database")
	}

	if pg, err = devstack.StartPostgres(ctx, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	restarted := time.Now()
	// From the restart on, the service is unknown (no report for longer than
	// service_down_time) until a report sees it, then up: never down.
	var states []string
	var last servicegroup.State
	upSince := time.Time{}
	took := eventually(t, 20*time.Second, "reports to recover", func() bool {
		recs, now, err := own.List(ctx, servicegroup.Filter{Host: cfg.Host, Binary: h.binary})
		if err != nil || len(recs) != 1 {
			return false // still starting
		}
		st := servicegroup.Status(recs[0], now, cfg.DownTime())
		if st != last {
			states = append(states, fmt.Sprintf("%s at +%s", st, time.Since(restarted).Round(time.Millisecond)))
			last = st
		}
		if st == servicegroup.Down {
			t.Fatalf("the service showed down after the database came back: %v", states)
		}
		if st != servicegroup.Up {
			upSince = time.Time{}
		} else if upSince.IsZero() {
			upSince = time.Now()
		}
		r := recs[0]
		return r.LastSeenUp != nil && r.LastSeenUp.After(restarted.Add(-time.Second)) && svc.logs.count("status report recovered") == 1 &&
			!upSince.IsZero() && time.Since(upSince) > 2*cfg.ReportInterval
	})
	t.Logf("reports recovered %s after PostgreSQL came back; states %v", took.Round(time.Millisecond), states)
	if n := svc.logs.count("level=WARN", "status reports resumed after a gap"); n != 1 {
		t.Errorf("the gap was logged %d times, want once", n)
	}
	if n := svc.logs.count("level=ERROR", "status report failed"); n != 1 {
		t.Errorf("the database outage was logged %d times at error level, want once", n)
	}
	if n := svc.logs.count("level=INFO", "status report recovered"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once", n)
	}
}

// TestNoFalseDownWhileDatabaseStalls holds a lock on the service's row, so
// that its reports wait, for less than service_down_time - report_interval -
// one heartbeat interval: the service must never show down meanwhile,
// because a live service's last_seen_up is at most one interval and one
// heartbeat old after each report.
func TestNoFalseDownWhileDatabaseStalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := h.config(testenv.UniqueName(t, "host"))
	cfg.ServiceDownTime = 5 * time.Second
	stall := cfg.DownTime() - cfg.ReportInterval - cfg.workerHeartbeatInterval() - time.Second
	h.start(cfg)
	ctx := context.Background()
	eventually(t, 10*time.Second, "the first reports", func() bool { r := h.record(cfg.Host); return r != nil && r.ReportCount >= 2 })

	notDown := func(during string, d time.Duration) {
		t.Helper()
		start := time.Now()
		for time.Since(start) < d {
			if st, r := h.status(cfg.Host, cfg.DownTime()); st == servicegroup.Down {
				t.Fatalf("false down %s %s (last_seen_up %s)", time.Since(start).Round(time.Millisecond), during, r.LastSeenUp)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	pool := h.pool(h.dbURL)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM services WHERE host = $1 AND NOT deleted FOR UPDATE`, cfg.Host); err != nil {
		t.Fatal(err)
	}
	locked := h.record(cfg.Host).ReportCount
	notDown(fmt.Sprintf("into a %s database stall", stall), stall)
	if got := h.record(cfg.Host).ReportCount; got != locked {
		t.Fatalf("a report got through the lock (report_count %d -> %d)", locked, got)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	notDown("after the stall ended", 2*time.Second)
	if got := h.record(cfg.Host).ReportCount; got <= locked {
		t.Errorf("no report after the stall (report_count %d)", got)
	}
}
