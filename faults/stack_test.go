//go:build faults && linux

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/conductor"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// stack is a control plane of processes for one fault test: its own
// Temporal dev server (file-backed when asked, so that it can restart), a
// database (on a PostgreSQL cluster of its own when asked, so that it can
// restart), and services started as processes with startService.
type stack struct {
	t        *testing.T
	dir      string
	tmp      *devstack.Temporal
	tmpOpts  devstack.TemporalOptions
	pg       *devstack.Postgres // nil on the shared test cluster
	pgOpts   devstack.PostgresOptions
	dbURL    string
	pool     *pgxpool.Pool
	store    *store.Store
	services *servicegroup.Store
	tc       client.Client
	procs    map[string]*proc // by host/topic
	envs     map[string]map[string]string
	// stateDirs are the compute hosts' state dirs (process driver).
	stateDirs map[string]string
	downTime  string // NOVAFLOW_SERVICE_DOWN_TIME of every service
}

type stackOptions struct {
	// fileTemporal keeps Temporal's state in a file, so that restartTemporal
	// keeps every execution.
	fileTemporal bool
	// ownPostgres runs a PostgreSQL cluster for the test alone, so that
	// restartPostgres can stop it.
	ownPostgres bool
	// serviceDownTime is the services' NOVAFLOW_SERVICE_DOWN_TIME; default 5s.
	serviceDownTime string
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "novaflow-faults-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// PostgreSQL runs as user postgres when the test runs as root.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, dir: dir, procs: map[string]*proc{}, envs: map[string]map[string]string{}, stateDirs: map[string]string{},
		downTime: o.serviceDownTime}
	if s.downTime == "" {
		s.downTime = "5s"
	}

	s.tmpOpts = devstack.TemporalOptions{Progress: os.Stderr, HostPort: freeAddress(t)}
	if o.fileTemporal {
		s.tmpOpts.DBFilename = filepath.Join(dir, "temporal.db")
	}
	if s.tmp, err = devstack.StartTemporal(ctx, s.tmpOpts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.tmp.Stop() })

	if o.ownPostgres {
		s.pgOpts = devstack.PostgresOptions{DataDir: filepath.Join(dir, "pg")}
		if s.pg, err = devstack.StartPostgres(ctx, s.pgOpts); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.pg.Stop() })
		s.dbURL = s.pg.URL()
		u, err := url.Parse(s.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		if s.pgOpts.Port, err = strconv.Atoi(u.Port()); err != nil {
			t.Fatal(err)
		}
	} else {
		s.dbURL = testenv.Postgres(t)
	}
	if s.pool, err = db.Open(ctx, s.dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.pool.Close)
	var defs []managers.Definition
	for _, name := range managers.Names() {
		def, _ := managers.Lookup(name)
		defs = append(defs, def)
	}
	if err := worker.Migrate(ctx, s.pool, defs...); err != nil {
		t.Fatal(err)
	}
	s.store, s.services = store.New(s.pool), servicegroup.NewStore(s.pool)
	if s.tc, err = client.Dial(client.Options{HostPort: s.tmp.Address(), Namespace: s.tmp.Namespace(), Logger: quietLogger()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.tc.Close)
	t.Cleanup(s.killInstances)
	return s
}

// env is the environment of a service on host: reports every second, a
// service down after s.downTime (5 s) without one, no jitter on periodic
// tasks.
func (s *stack) env(host string, extra map[string]string) map[string]string {
	env := map[string]string{
		"NOVAFLOW_HOST":                      host,
		"NOVAFLOW_TEMPORAL_ADDRESS":          s.tmp.Address(),
		"NOVAFLOW_TEMPORAL_NAMESPACE":        s.tmp.Namespace(),
		"NOVAFLOW_DATABASE_URL":              s.dbURL,
		"NOVAFLOW_REPORT_INTERVAL":           "1s",
		"NOVAFLOW_SERVICE_DOWN_TIME":         s.downTime,
		"NOVAFLOW_PERIODIC_FUZZY_DELAY":      "0s",
		"NOVAFLOW_VERSIONING":                "off",
		"NOVAFLOW_GRACEFUL_SHUTDOWN_TIMEOUT": "5s",
		"NOVAFLOW_LOG_LEVEL":                 "info",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// start starts the service of topic on host as a process and waits until
// its record is up.
func (s *stack) start(topic, host string, extra map[string]string) *proc {
	s.t.Helper()
	key := host + "/" + topic
	if _, ok := s.envs[key]; !ok {
		s.envs[key] = s.env(host, extra)
	}
	if topic == "compute" {
		s.stateDirs[host] = s.envs[key]["NOVAFLOW_COMPUTE_STATE_DIR"]
	}
	p := startService(s.t, topic, s.envs[key])
	s.procs[key] = p
	s.waitUp(p, topic, host)
	return p
}

// restart starts the service of topic on host again, with its settings.
func (s *stack) restart(topic, host string) *proc {
	s.t.Helper()
	return s.start(topic, host, nil)
}

// waitUp waits until the service's record has a report after now.
func (s *stack) waitUp(p *proc, topic, host string) {
	s.t.Helper()
	since := time.Now()
	s.eventually(time.Minute, topic+" on "+host+" up", func() bool {
		if p.exited() {
			s.t.Fatalf("%s on %s exited:\n%s", topic, host, p.output())
		}
		r, err := s.services.Get(context.Background(), host, "novaflow-"+topic)
		return err == nil && r.LastSeenUp != nil && r.LastSeenUp.After(since.Add(-time.Second))
	})
}

// checkRunning fails the test when a service process has exited.
func (s *stack) checkRunning() {
	s.t.Helper()
	for key, p := range s.procs {
		if p.exited() {
			s.t.Errorf("service %s exited:\n%s", key, tail(p.output(), 3000))
		}
	}
}

// eventually polls cond every 100 ms until it holds, and fails the test
// after timeout. It returns how long it took.
func (s *stack) eventually(timeout time.Duration, what string, cond func() bool) time.Duration {
	s.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			s.t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// startBuild starts conductor.build_instances with req (its instance UUIDs
// given) and returns the run.
func (s *stack) startBuild(id string, req conductor.BuildRequest) client.WorkflowRun {
	s.t.Helper()
	run, err := s.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: id, TaskQueue: conductor.Topic, WorkflowExecutionTimeout: 10 * time.Minute,
	}, conductor.BuildInstancesName, req)
	if err != nil {
		s.t.Fatalf("start build %s: %v", id, err)
	}
	return run
}

// buildOutcome waits for a build and returns its result: the BuildResult,
// from the BuildFailed details when it failed.
func buildOutcome(ctx context.Context, run client.WorkflowRun) (conductor.BuildResult, error) {
	var res conductor.BuildResult
	err := run.Get(ctx, &res)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == conductor.BuildFailedType {
		if derr := appErr.Details(&res); derr == nil {
			return res, nil
		}
	}
	return res, err
}

// buildRequest is a build of one instance of 1 vCPU, 64 MB, 1 GB running
// command.
func buildRequest(name string, command ...string) (conductor.BuildRequest, string) {
	u := newUUID()
	return conductor.BuildRequest{
		Name: name, Flavor: compute.Flavor{VCPUs: 1, MemoryMB: 64, DiskGB: 1},
		Image: store.Image{Command: command}, InstanceUUIDs: []string{u},
	}, u
}

// checkAccounting checks what every fault test must leave behind: each
// instance in uuids built (active, or stopped since) or in error, with no
// task, none left building; the
// usage of every compute node equal to the sum of the flavors of the live
// instances claimed on it, within its capacity; each instance with one
// "create" action that ended (Success when built), and no action of any
// instance left without a result. It returns how many are built and how
// many in error.
func (s *stack) checkAccounting(uuids []string) (active, failed int) {
	s.t.Helper()
	ctx := context.Background()
	insts, err := s.store.List(ctx, store.Filter{UUIDs: uuids})
	if err != nil {
		s.t.Fatal(err)
	}
	if len(insts) != len(uuids) {
		s.t.Errorf("%d instances in the database, want %d", len(insts), len(uuids))
	}
	for _, i := range insts {
		switch {
		case (i.VMState == store.Active || i.VMState == store.Stopped) && i.TaskState == store.NoTask && i.Host != "":
			active++ // built; stopped by an operation since
		case i.VMState == store.Error && i.TaskState == store.NoTask:
			failed++
		default:
			s.t.Errorf("instance %s (%s) is %s/%s on %q, want active or error with no task", i.Name, i.UUID, i.VMState, i.TaskState, i.Host)
		}
	}
	rows, err := s.pool.Query(ctx, `
		SELECT n.host, n.vcpus, n.memory_mb, n.disk_gb, n.vcpus_used, n.memory_mb_used, n.disk_gb_used,
		       coalesce(sum(i.vcpus), 0), coalesce(sum(i.memory_mb), 0), coalesce(sum(i.disk_gb), 0)
		FROM compute_nodes n LEFT JOIN instances i ON i.host = n.host AND NOT i.deleted
		WHERE NOT n.deleted GROUP BY n.id ORDER BY n.host`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var host string
		var v [9]int
		if err := rows.Scan(&host, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]); err != nil {
			s.t.Fatal(err)
		}
		if v[3] != v[6] || v[4] != v[7] || v[5] != v[8] {
			s.t.Errorf("host %s: usage %d vCPU / %d MB / %d GB, but its live instances claim %d / %d / %d", host, v[3], v[4], v[5], v[6], v[7], v[8])
		}
		if v[3] > v[0] || v[4] > v[1] || v[5] > v[2] {
			s.t.Errorf("host %s over-committed: usage %d/%d/%d of %d/%d/%d", host, v[3], v[4], v[5], v[0], v[1], v[2])
		}
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	var creates, unfinished, badCreates int
	err = s.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM instance_actions WHERE action = 'create' AND instance_uuid::text = ANY($1)),
		       (SELECT count(*) FROM instance_actions WHERE result IS NULL AND instance_uuid::text = ANY($1)),
		       (SELECT count(*) FROM instance_actions a JOIN instances i ON i.uuid = a.instance_uuid
		        WHERE a.action = 'create' AND a.instance_uuid::text = ANY($1)
		          AND (i.vm_state IN ('active', 'stopped')) <> (a.result = 'Success'))`, uuids).Scan(&creates, &unfinished, &badCreates)
	if err != nil {
		s.t.Fatal(err)
	}
	if creates != len(uuids) || unfinished != 0 || badCreates != 0 {
		s.t.Errorf("instance_actions: %d create actions for %d instances, %d actions without a result, %d create results that disagree with the instance",
			creates, len(uuids), unfinished, badCreates)
	}
	return active, failed
}

// instanceProcesses lists the live processes of the process driver's
// instances under stateDir, by instance UUID: the processes whose working
// directory is an instance's directory.
func instanceProcesses(stateDir string) map[string][]int {
	out := map[string][]int{}
	entries, _ := os.ReadDir("/proc")
	prefix := filepath.Join(stateDir, "instances") + "/"
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || !strings.HasPrefix(cwd, prefix) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && len(stat) > i+2 && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			continue // a zombie: exited
		}
		u := strings.TrimPrefix(cwd, prefix)
		out[u] = append(out[u], pid)
	}
	for _, pids := range out {
		sort.Ints(pids)
	}
	return out
}

// killInstances kills what the process driver left running under the
// stack's state dirs.
func (s *stack) killInstances() {
	for _, dir := range s.stateDirs {
		if dir == "" {
			continue
		}
		for _, pids := range instanceProcesses(dir) {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// restartTemporal stops the Temporal server (SIGINT) and starts it again on
// the same file and address after down.
func (s *stack) restartTemporal(down time.Duration) {
	s.t.Helper()
	if err := s.tmp.Stop(); err != nil {
		s.t.Fatalf("stop Temporal: %v", err)
	}
	time.Sleep(down)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp, err := devstack.StartTemporal(ctx, s.tmpOpts)
	if err != nil {
		s.t.Fatalf("start Temporal again: %v", err)
	}
	s.tmp = tmp
	s.t.Cleanup(func() { tmp.Stop() })
}

// restartPostgres stops PostgreSQL (fast shutdown: open transactions are
// aborted) and starts it again on the same data and port after down.
func (s *stack) restartPostgres(down time.Duration) {
	s.t.Helper()
	if err := s.pg.Stop(); err != nil {
		s.t.Fatalf("stop PostgreSQL: %v", err)
	}
	time.Sleep(down)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := devstack.StartPostgres(ctx, s.pgOpts)
	if err != nil {
		s.t.Fatalf("start PostgreSQL again: %v", err)
	}
	s.pg = pg
	s.t.Cleanup(func() { pg.Stop() })
}

// absolute returns the absolute path of program, as the process driver
// wants it.
func absolute(t *testing.T, program string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func prettyJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func newUUID() string { return uuid.NewString() }

// quietLogger is a Temporal SDK logger that drops everything: the test's
// client sees the server go away on purpose.
func quietLogger() log.Logger { return log.NewStructuredLogger(slog.New(slog.DiscardHandler)) }

// historySummary describes where the time of workflow id and its children
// went: each activity's type, attempt and time from scheduled to closed,
// and each workflow task that timed out or failed.
func (s *stack) historySummary(id string) string {
	ctx := context.Background()
	var parts []string
	ids := []string{id}
	for len(ids) > 0 {
		id := ids[0]
		ids = ids[1:]
		scheduled := map[int64]*historypb.HistoryEvent{}
		it := s.tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return err.Error()
			}
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				scheduled[e.GetEventId()] = e
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				a := e.GetActivityTaskStartedEventAttributes()
				sch := scheduled[a.GetScheduledEventId()]
				parts = append(parts, fmt.Sprintf("%s attempt %d started after %s", sch.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(),
					a.GetAttempt(), e.GetEventTime().AsTime().Sub(sch.GetEventTime().AsTime()).Round(time.Millisecond)))
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				sch := scheduled[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]
				parts = append(parts, fmt.Sprintf("done %s after it was scheduled", e.GetEventTime().AsTime().Sub(sch.GetEventTime().AsTime()).Round(time.Millisecond)))
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
				parts = append(parts, e.GetEventType().String())
			case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
				ids = append(ids, e.GetChildWorkflowExecutionStartedEventAttributes().GetWorkflowExecution().GetWorkflowId())
			}
		}
	}
	return strings.Join(parts, "; ")
}
