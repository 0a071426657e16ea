package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
)

// The schedule tests run services of topic schedtest, whose manager declares
// the periodic tasks the test stored for the service's host.
const (
	testTopic  = "schedtest"
	testBinary = BinaryPrefix + testTopic
)

// helperEnv makes the test binary run a schedtest service instead of tests
// (TestMain), configured by the NOVAFLOW_* variables: the subprocess that
// TestKilledService* SIGKILLs.
const helperEnv = "NOVAFLOW_TEST_HELPER_SERVICE"

type testManager struct {
	managers.Base
	tasks []managers.PeriodicTask
}

func (m *testManager) PeriodicTasks() []managers.PeriodicTask { return m.tasks }

// testTasks maps a host to the periodic tasks of its schedtest service.
var testTasks sync.Map

func init() {
	managers.Register(managers.Definition{
		Name: testTopic, Topic: testTopic, Version: 1,
		New: func(d managers.Deps) (managers.Manager, error) {
			tasks, _ := testTasks.Load(d.Host)
			m := &testManager{}
			if tasks != nil {
				m.tasks = tasks.([]managers.PeriodicTask)
			}
			return m, nil
		},
	})
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelperService())
	}
	testenv.Main(m)
}

// runHelperService runs a schedtest service as `novaflow run schedtest` does.
func runHelperService() int {
	cfg, err := LoadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper service:", err)
		return 1
	}
	logger := NewLogger(os.Stderr, cfg)
	svc, err := Create(cfg, Options{Topic: testTopic, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper service:", err)
		return 1
	}
	if err := Run(context.Background(), RunOptions{Logger: logger}, svc); err != nil {
		fmt.Fprintln(os.Stderr, "helper service:", err)
		return 1
	}
	return 0
}

// harness is a test's Temporal server and database.
type harness struct {
	t     *testing.T
	tmp   *testenv.TemporalServer
	c     client.Client
	dbURL string
	store *servicegroup.Store
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	tmp := testenv.Temporal(t)
	h := &harness{t: t, tmp: tmp, c: tmp.Client(t), dbURL: testenv.Postgres(t)}
	h.store = servicegroup.NewStore(h.pool(h.dbURL))
	return h
}

// pool opens a pool on url with the schema migrated, closed when the test ends.
func (h *harness) pool(url string) *pgxpool.Pool {
	h.t.Helper()
	ctx := context.Background()
	pool, err := db.Open(ctx, url)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(pool.Close)
	if err := db.Migrate(ctx, pool, nil, db.Core()); err != nil {
		h.t.Fatal(err)
	}
	return pool
}

// config is the settings of a test service on host: reports every second,
// down after 2.5 s, periodic tasks without jitter.
func (h *harness) config(host string) Config {
	return Config{
		Host: host, TemporalAddress: h.tmp.Address(), TemporalNamespace: h.tmp.Namespace(), DatabaseURL: h.dbURL,
		MigrateOnStart: true, ReportInterval: time.Second, ServiceDownTime: 2 * time.Second,
		PeriodicEnable: true, RunExternalPeriodicTasks: true, GracefulShutdownTimeout: 5 * time.Second,
		RPCResponseTimeout: time.Minute, CastTimeout: time.Hour, LogFormat: "text", LogLevel: "debug",
	}
}

// testService is a service started by a test, with its log.
type testService struct {
	*Service
	logs *logBuffer
}

// start starts a schedtest service with cfg and tasks. When the test ends it
// is stopped and its schedules are deleted.
func (h *harness) start(cfg Config, tasks ...managers.PeriodicTask) *testService {
	h.t.Helper()
	testTasks.Store(cfg.Host, tasks)
	logs := newLogBuffer(h.t)
	svc, err := Create(cfg, Options{Topic: testTopic, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		h.t.Fatal(err)
	}
	start := time.Now()
	if err := svc.Start(context.Background()); err != nil {
		h.t.Fatalf("start service on %s: %v", cfg.Host, err)
	}
	h.t.Logf("service on %s started in %s", cfg.Host, time.Since(start).Round(time.Millisecond))
	h.t.Cleanup(func() {
		svc.Stop(context.Background())
		h.deleteSchedules(cfg.Host)
	})
	return &testService{Service: svc, logs: logs}
}

func (h *harness) deleteSchedules(host string) {
	if err := DeleteSchedules(context.Background(), h.c, testTopic, testBinary, host); err != nil {
		h.t.Errorf("delete schedules of %s: %v", host, err)
	}
}

// describe returns the schedule's description, or nil when it does not exist.
func (h *harness) describe(id string) *client.ScheduleDescription {
	h.t.Helper()
	d, err := h.c.ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background())
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		h.t.Fatalf("describe schedule %s: %v", id, err)
	}
	return d
}

// record returns the live services row of host.
func (h *harness) record(host string) *servicegroup.Record {
	h.t.Helper()
	r, err := h.store.Get(context.Background(), host, testBinary)
	if errors.Is(err, servicegroup.ErrNotFound) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// up judges host's service as `novaflow service list` does.
func (h *harness) up(host string, downTime time.Duration) (bool, *servicegroup.Record) {
	h.t.Helper()
	recs, now, err := h.store.List(context.Background(), servicegroup.Filter{Host: host, Binary: testBinary})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(recs) != 1 {
		return false, nil
	}
	return servicegroup.IsUp(recs[0], now, downTime), &recs[0]
}

// runs lists the closed and open workflow runs of host with the given type,
// found by search attributes as an operator would, keyed by status.
func (h *harness) runs(host, workflowType string) map[string]int {
	h.t.Helper()
	q := fmt.Sprintf("NovaflowTopic = '%s' AND NovaflowHost = '%s' AND WorkflowType = '%s'", testTopic, host, workflowType)
	out := map[string]int{}
	var token []byte
	for {
		resp, err := h.c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: q, NextPageToken: token})
		if err != nil {
			h.t.Fatalf("list workflows %s: %v", q, err)
		}
		for _, e := range resp.GetExecutions() {
			out[e.GetStatus().String()]++
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out
		}
	}
}

// eventually polls cond every 50 ms until it holds, failing the test after
// timeout. It returns how long it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// logBuffer keeps a service's log and copies it to the test log while the
// test runs.
type logBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	t    *testing.T
	done bool
}

func newLogBuffer(t *testing.T) *logBuffer {
	b := &logBuffer{t: t}
	t.Cleanup(func() {
		b.mu.Lock()
		b.done = true
		b.mu.Unlock()
	})
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return b.buf.Write(p)
}

// count counts the log lines that contain every one of parts.
func (b *logBuffer) count(parts ...string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, line := range strings.Split(b.buf.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all && line != "" {
			n++
		}
	}
	return n
}

// runLog records when a periodic task ran.
type runLog struct {
	mu     sync.Mutex
	starts []time.Time
	ends   []time.Time
}

func (r *runLog) task(name string, spacing time.Duration, run func(ctx context.Context) error) managers.PeriodicTask {
	return managers.PeriodicTask{Name: name, Spacing: spacing, Run: func(ctx context.Context) error {
		r.mu.Lock()
		r.starts = append(r.starts, time.Now())
		r.mu.Unlock()
		var err error
		if run != nil {
			err = run(ctx)
		}
		r.mu.Lock()
		r.ends = append(r.ends, time.Now())
		r.mu.Unlock()
		return err
	}}
}

func (r *runLog) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.starts)
}

func (r *runLog) times() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.starts...)
}
