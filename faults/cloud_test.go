package faults

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/conductor"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// cloud is a control plane in this process, on the test's database and the
// shared Temporal server: compute services with the fake driver, a scheduler
// and a conductor, started by the real runtime; plus a worker of the test's
// own that calls manager methods' activities directly (directCall), as the
// conductor's build workflow does, past the RPC workflow's own validation.
type cloud struct {
	t       *testing.T
	dbURL   string
	pool    *pgxpool.Pool
	store   *store.Store
	srv     *testenv.TemporalServer
	tc      client.Client
	hosts   []string
	sched   string // the scheduler's host
	cond    string // the conductor's host
	directQ string
}

// directCallName is the workflow type of directCall.
const directCallName = "faults.direct_call"

// directCall runs the activity of topic's method on host (any host when
// empty) with raw as its request, as the build calls its steps
// (rpc.CallFromWorkflow), with a deadline of timeout.
func directCall(ctx workflow.Context, topic, host, method string, raw json.RawMessage, timeout time.Duration) (json.RawMessage, error) {
	opts := []rpc.CallOption{rpc.Timeout(timeout)}
	if host != "" {
		opts = append(opts, rpc.ToHost(host))
	}
	var out json.RawMessage
	if err := rpc.CallFromWorkflow(ctx, topic, method, raw, &out, opts...); err != nil {
		return nil, activities.ToApplicationError(err)
	}
	return out, nil
}

func newCloud(t *testing.T, computeHosts int) *cloud {
	t.Helper()
	ctx := context.Background()
	c := &cloud{t: t, dbURL: testenv.Postgres(t), srv: testenv.Temporal(t)}
	pool, err := db.Open(ctx, c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var defs []managers.Definition
	for _, name := range managers.Names() {
		def, _ := managers.Lookup(name)
		defs = append(defs, def)
	}
	if err := worker.Migrate(ctx, pool, defs...); err != nil {
		t.Fatal(err)
	}
	c.pool, c.store, c.tc = pool, store.New(pool), c.srv.Client(t)
	for range computeHosts {
		host := testenv.UniqueName(t, "h")
		s := managers.Defaults[computemgr.Settings]()
		s.Driver = "fake"
		c.start(computemgr.Topic, host, &s)
		c.hosts = append(c.hosts, host)
	}
	c.sched = testenv.UniqueName(t, "sched")
	c.start("scheduler", c.sched, nil)
	c.cond = testenv.UniqueName(t, "cond")
	c.start("conductor", c.cond, nil)

	c.directQ = testenv.UniqueName(t, "direct")
	w := sdkworker.New(c.tc, c.directQ, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(directCall, workflow.RegisterOptions{Name: directCallName})
	// CallFromWorkflow reads each call's version and upgrade level through
	// this client's activity (rpc.CallVersionName).
	rc, err := rpc.New(rpc.Options{Temporal: c.tc})
	if err != nil {
		t.Fatal(err)
	}
	rc.RegisterActivities(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return c
}

// start starts the service of topic on host with the runtime.
func (c *cloud) start(topic, host string, managerConfig any) *worker.Service {
	c.t.Helper()
	cfg := worker.DefaultConfig()
	cfg.Host, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL = host, c.srv.Address(), c.srv.Namespace(), c.dbURL
	// Reports keep the compute services up for the scheduler.
	cfg.ReportInterval, cfg.PeriodicEnable = 2*time.Second, false
	cfg.GracefulShutdownTimeout, cfg.LogLevel, cfg.Versioning = 5*time.Second, "warn", worker.VersioningOff
	svc, err := worker.Create(cfg, worker.Options{Topic: topic, Temporal: c.tc, DB: c.pool,
		Logger: slog.New(slog.DiscardHandler), ManagerConfig: managerConfig})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		c.t.Fatalf("start %s on %s: %v", topic, host, err)
	}
	// Kill: stop, and delete the service's schedules and record.
	c.t.Cleanup(func() { _ = svc.Kill(context.Background()) })
	return svc
}

// execute runs workflow type name with args (plain JSON for a
// json.RawMessage) on queue, as `temporal workflow execute` does, within
// timeout, stores its result in result (nil: dropped) and returns its ID and
// error.
func (c *cloud) execute(queue, name string, timeout time.Duration, result any, args ...any) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	id := testenv.UniqueName(c.t, "wf")
	run, err := c.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: queue, WorkflowExecutionTimeout: timeout,
	}, name, args...)
	if err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	return id, run.Get(ctx, result)
}

// direct runs the activity of topic's method on host (any host when
// empty) with raw as its request, through directCall.
func (c *cloud) direct(topic, host, method string, raw json.RawMessage, timeout time.Duration) (string, error) {
	c.t.Helper()
	return c.execute(c.directQ, directCallName, timeout, nil, topic, host, method, raw, timeout)
}

// typedError returns the typed error of a failed execution, and whether its
// application error was non-retryable.
func typedError(err error) (*managers.Error, bool) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return nil, false
	}
	e, ok := managers.AsError(activities.FromApplicationError(err))
	if !ok {
		return nil, false
	}
	return e, appErr.NonRetryable()
}

// attempts returns the highest attempt of any activity in the history of
// workflow id and of its children, and how many workflow tasks failed.
func (c *cloud) attempts(id string) (maxAttempt, failedTasks int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ids := []string{id}
	for len(ids) > 0 {
		id := ids[0]
		ids = ids[1:]
		it := c.tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				c.t.Fatalf("history of %s: %v", id, err)
			}
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				maxAttempt = max(maxAttempt, int(e.GetActivityTaskStartedEventAttributes().GetAttempt()))
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
				failedTasks++
			case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
				ids = append(ids, e.GetChildWorkflowExecutionStartedEventAttributes().GetWorkflowExecution().GetWorkflowId())
			}
		}
	}
	return maxAttempt, failedTasks
}

// rows counts the rows of the compute tables.
func (c *cloud) rows() (instances, actions int) {
	c.t.Helper()
	err := c.pool.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM instances), (SELECT count(*) FROM instance_actions)`).Scan(&instances, &actions)
	if err != nil {
		c.t.Fatal(err)
	}
	return instances, actions
}

// build runs conductor.build_instances with input and returns its result,
// from its BuildFailed details when it failed.
func (c *cloud) build(input string, timeout time.Duration) (conductor.BuildResult, error) {
	c.t.Helper()
	var res conductor.BuildResult
	_, err := c.execute("conductor", conductor.BuildInstancesName, timeout, &res, json.RawMessage(input))
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == conductor.BuildFailedType {
		if derr := appErr.Details(&res); derr != nil {
			c.t.Fatalf("BuildFailed details: %v", derr)
		}
	}
	return res, err
}

// rawJSON is input as the shell sends it: a json/plain payload of exactly
// these bytes, valid JSON or not.
func rawJSON(input string) converter.RawValue {
	return converter.NewRawValue(&commonpb.Payload{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)},
		Data:     []byte(input),
	})
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
