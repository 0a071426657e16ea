package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/workflows"
)

// The schedule tests run services of a topic of the test's own (the
// schedules, the worker heartbeats and the task queues of a topic are shared
// by its services, and the tests share one Temporal server), whose manager
// declares the periodic tasks the test stored for the service's host.

// helperEnv makes the test binary run a service of the topic it names instead
// of tests (TestMain), configured by the NOVAFLOW_* variables: the subprocess
// that TestKilledService* SIGKILLs.
const helperEnv = "NOVAFLOW_TEST_HELPER_SERVICE"

type testManager struct {
	tasks   []managers.PeriodicTask
	methods []managers.Method
}

func (m *testManager) RPCMethods() []managers.Method { return m.methods }

func (m *testManager) PeriodicTasks() []managers.PeriodicTask { return m.tasks }

// testTasks maps a host to the periodic tasks of its test service.
var testTasks sync.Map

// testMethods maps a host to the RPC methods of its test service (none when
// absent).
var testMethods sync.Map

// helperStatelessEnv, set beside helperEnv, makes the helper's topic
// stateless (managers.Definition.Stateless).
const helperStatelessEnv = "NOVAFLOW_TEST_HELPER_STATELESS"

// registerTestTopic registers the manager of a test topic, whose services
// declare the periodic tasks stored in testTasks for their host.
func registerTestTopic(topic string) { registerTopic(topic, false) }

// registerTopic registers the manager of a test topic, stateless or not.
func registerTopic(topic string, stateless bool) {
	managers.Register(managers.Definition{
		Name: topic, Topic: topic, Version: 1, Stateless: stateless,
		New: func(d managers.Deps) (managers.Manager, error) {
			tasks, _ := testTasks.Load(d.Host)
			m := &testManager{}
			if tasks != nil {
				m.tasks = tasks.([]managers.PeriodicTask)
			}
			if methods, ok := testMethods.Load(d.Host); ok {
				m.methods = methods.([]managers.Method)
			}
			return m, nil
		},
	})
}

func TestMain(m *testing.M) {
	if topic := os.Getenv(helperEnv); topic != "" {
		os.Exit(runHelperService(topic))
	}
	testenv.Main(m)
}

// runHelperService runs a service of topic as `novaflow run <topic>` does.
func runHelperService(topic string) int {
	registerTopic(topic, os.Getenv(helperStatelessEnv) != "")
	env, err := LoadEnv(os.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper service:", err)
		return 1
	}
	cfg, err := LoadConfig(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper service:", err)
		return 1
	}
	logger := NewLogger(os.Stderr, cfg, nil)
	svc, err := Create(cfg, Options{Topic: topic, Logger: logger, Env: env})
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

// harness is a test's Temporal server, database and topic.
type harness struct {
	t     *testing.T
	tmp   *testenv.TemporalServer
	c     client.Client
	dbURL string
	store *servicegroup.Store
	// topic is the test's own topic, binary its services' binary.
	topic, binary string
	stateless     bool // the topic is (managers.Definition.Stateless)

	mu    sync.Mutex
	tasks map[string]bool // the task names the test's services declared
}

// newHarness gives the test a Temporal client, a fresh database and a topic
// of its own, whose schedules are deleted when the test ends (after its
// services have stopped).
func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOf(t, false)
}

// newHarnessOf is newHarness with a topic that is stateless or not
// (managers.Definition.Stateless).
func newHarnessOf(t *testing.T, stateless bool) *harness {
	t.Helper()
	tmp := testenv.Temporal(t)
	h := &harness{t: t, tmp: tmp, c: tmp.Client(t), dbURL: testenv.Postgres(t), tasks: map[string]bool{}}
	h.store = servicegroup.NewStore(h.pool(h.dbURL))
	h.topic = testenv.UniqueName(t, "st")
	h.binary = BinaryPrefix + h.topic
	h.stateless = stateless
	registerTopic(h.topic, stateless)
	t.Cleanup(h.deleteTopicSchedules)
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
// heartbeats every second, down after 2.5 s, periodic tasks not spread.
func (h *harness) config(host string) Config {
	cfg := DefaultConfig()
	cfg.Host, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL = host, h.tmp.Address(), h.tmp.Namespace(), h.dbURL
	cfg.ReportInterval, cfg.ServiceDownTime, cfg.PeriodicFuzzyDelay = time.Second, 2*time.Second, 0
	cfg.GracefulShutdownTimeout, cfg.LogLevel = 5*time.Second, "debug"
	return cfg
}

// testService is a service started by a test, with its log.
type testService struct {
	*Service
	logs *logBuffer
}

// start starts a service of the test's topic with cfg and tasks, with a
// Temporal client of its own. When the test ends it is stopped.
func (h *harness) start(cfg Config, tasks ...managers.PeriodicTask) *testService {
	h.t.Helper()
	return h.startWith(cfg, Options{}, tasks...)
}

// startWith starts a service like start, with opts (on the Temporal client
// opts.Temporal when it is not nil: services of one process share one).
func (h *harness) startWith(cfg Config, opts Options, tasks ...managers.PeriodicTask) *testService {
	h.t.Helper()
	testTasks.Store(cfg.Host, tasks)
	h.mu.Lock()
	for _, task := range tasks {
		h.tasks[task.Name] = true
	}
	h.mu.Unlock()
	logs := newLogBuffer(h.t)
	opts.Topic = h.topic
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	svc, err := Create(cfg, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	start := time.Now()
	if err := svc.Start(context.Background()); err != nil {
		h.t.Fatalf("start service on %s: %v", cfg.Host, err)
	}
	h.t.Logf("service on %s started in %s", cfg.Host, time.Since(start).Round(time.Millisecond))
	h.t.Cleanup(func() { svc.Stop(context.Background()) })
	return &testService{Service: svc, logs: logs}
}

// dial connects a Temporal client as a service process does (worker
// heartbeats every quarter of cfg's report interval), for services that share
// it; closed when the test ends.
func (h *harness) dial(cfg Config) client.Client {
	h.t.Helper()
	c, err := Dial(context.Background(), cfg, testLogger(h.t))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(c.Close)
	return c
}

// deleteTopicSchedules deletes the schedules of the test's topic, and the
// runs they started that are still open.
func (h *harness) deleteTopicSchedules() {
	ctx := context.Background()
	ids := []string{ReportScheduleID(h.topic)}
	h.mu.Lock()
	for task := range h.tasks {
		ids = append(ids, PeriodicScheduleID(h.topic, task))
	}
	h.mu.Unlock()
	if listed, err := listScheduleIDs(ctx, h.c, periodicPrefix(h.topic)); err == nil {
		ids = append(ids, listed...)
	}
	for _, id := range ids {
		if _, err := deleteSchedule(ctx, h.c, id, true); err != nil {
			h.t.Logf("delete schedule %s: %v", id, err)
		}
	}
}

// createSchedule creates a schedule as another version of novaflow, or an
// operator, would have: every hour, starting workflowType on queue.
func (h *harness) createSchedule(id, workflowType, queue string) {
	h.t.Helper()
	_, err := h.c.ScheduleClient().Create(context.Background(), client.ScheduleOptions{
		ID:     id,
		Spec:   client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
		Action: &client.ScheduleWorkflowAction{ID: id, Workflow: workflowType, TaskQueue: queue},
	})
	if err != nil {
		h.t.Fatalf("create schedule %s: %v", id, err)
	}
	h.t.Cleanup(func() { deleteSchedule(context.Background(), h.c, id, true) })
}

// listed waits until the schedules whose ID starts with prefix are listed by
// visibility (eventually consistent), as reconciliation and TriggerPeriodic
// find them.
func (h *harness) listed(prefix string, ids ...string) {
	h.t.Helper()
	eventually(h.t, 15*time.Second, fmt.Sprintf("schedules %v to be listed", ids), func() bool {
		got, err := listScheduleIDs(context.Background(), h.c, prefix)
		if err != nil {
			return false
		}
		for _, id := range ids {
			if !slices.Contains(got, id) {
				return false
			}
		}
		return true
	})
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
	r, err := h.store.Get(context.Background(), host, h.binary)
	if errors.Is(err, servicegroup.ErrNotFound) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// status judges host's service as `novaflow service list` does; "" when it
// has no live row.
func (h *harness) status(host string, downTime time.Duration) (servicegroup.State, *servicegroup.Record) {
	h.t.Helper()
	recs, now, err := h.store.List(context.Background(), servicegroup.Filter{Host: host, Binary: h.binary})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(recs) != 1 {
		return "", nil
	}
	return servicegroup.Status(recs[0], now, downTime), &recs[0]
}

// runs lists the closed and open workflow runs of the test's topic with the
// given type (and, when host is not empty, for that host only), found by
// search attributes as an operator would, keyed by status.
func (h *harness) runs(workflowType, host string) map[string]int {
	h.t.Helper()
	out := map[string]int{}
	for _, e := range h.executions(workflowType, host) {
		out[e.GetStatus().String()]++
	}
	return out
}

// executions lists the runs that runs counts.
func (h *harness) executions(workflowType, host string) []*workflowpb.WorkflowExecutionInfo {
	h.t.Helper()
	q := fmt.Sprintf("NovaflowTopic = '%s' AND WorkflowType = '%s'", h.topic, workflowType)
	if host != "" {
		q += fmt.Sprintf(" AND NovaflowHost = '%s'", host)
	}
	var out []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		resp, err := h.c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: q, NextPageToken: token})
		if err != nil {
			h.t.Fatalf("list workflows %s: %v", q, err)
		}
		out = append(out, resp.GetExecutions()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out
		}
	}
}

// runResult is the result of a completed periodic run.
func (h *harness) runResult(id, runID string) workflows.PeriodicRunResult {
	h.t.Helper()
	var res workflows.PeriodicRunResult
	if err := h.c.GetWorkflow(context.Background(), id, runID).Get(context.Background(), &res); err != nil {
		h.t.Fatalf("result of %s: %v", id, err)
	}
	return res
}

// history returns the events of a workflow run.
func (h *harness) history(id, runID string) []*historypb.HistoryEvent {
	h.t.Helper()
	var events []*historypb.HistoryEvent
	it := h.c.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			h.t.Fatalf("history of %s: %v", id, err)
		}
		events = append(events, e)
	}
	return events
}

// hostResults are the outcomes of a periodic run's activities that
// completed, by host (from the host queue each was scheduled on).
func (h *harness) hostResults(id, runID string) map[string]workflows.PeriodicResult {
	h.t.Helper()
	queues := map[int64]string{}
	out := map[string]workflows.PeriodicResult{}
	for _, e := range h.history(id, runID) {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			queues[e.GetEventId()] = strings.TrimPrefix(a.GetTaskQueue().GetName(), h.topic+".")
		}
		if a := e.GetActivityTaskCompletedEventAttributes(); a != nil {
			var r workflows.PeriodicResult
			if err := converter.GetDefaultDataConverter().FromPayloads(a.GetResult(), &r); err != nil {
				h.t.Fatalf("result of an activity of %s: %v", id, err)
			}
			out[queues[a.GetScheduledEventId()]] = r
		}
	}
	return out
}

// reportHolder is the worker identity (<binary>@<host>) that completed the
// last workflow task of the topic's report run that is going: the service
// that runs its reports. "" when no run is going.
func (h *harness) reportHolder() string {
	h.t.Helper()
	d := h.describe(ReportScheduleID(h.topic))
	if d == nil || len(d.Info.RunningWorkflows) == 0 {
		return ""
	}
	run := d.Info.RunningWorkflows[0]
	var identity string
	for _, e := range h.history(run.WorkflowID, run.FirstExecutionRunID) {
		if a := e.GetWorkflowTaskCompletedEventAttributes(); a != nil {
			identity = a.GetIdentity()
		}
	}
	return identity
}

// startInput decodes the input of a workflow run from its first event, and
// returns that event's attributes.
func (h *harness) startInput(id, runID string, into any) *historypb.WorkflowExecutionStartedEventAttributes {
	h.t.Helper()
	events := h.history(id, runID)
	a := events[0].GetWorkflowExecutionStartedEventAttributes()
	if a == nil {
		h.t.Fatalf("the first event of %s is %s", id, events[0].GetEventType())
	}
	if err := converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), into); err != nil {
		h.t.Fatalf("input of %s: %v", id, err)
	}
	return a
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
