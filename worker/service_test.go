package worker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
)

// The lifecycle tests run services of topic lifecycle, whose manager records
// every hook call (and its slow method's start and end) in the journal of its
// host.
const lifecycleTopic = "lifecycle"

type journal struct {
	mu      sync.Mutex
	events  []string
	release chan struct{} // closes to let slow finish
	started chan struct{} // closed when slow starts
}

func (j *journal) add(e string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, e)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

var journals sync.Map // host -> *journal

func journalOf(host string) *journal {
	j, _ := journals.LoadOrStore(host, &journal{release: make(chan struct{}), started: make(chan struct{})})
	return j.(*journal)
}

type lifecycleManager struct {
	j  *journal
	db *pgxpool.Pool
}

var (
	_ managers.Manager         = (*lifecycleManager)(nil)
	_ managers.InitHoster      = (*lifecycleManager)(nil)
	_ managers.PreStartHooker  = (*lifecycleManager)(nil)
	_ managers.PostStartHooker = (*lifecycleManager)(nil)
	_ managers.CleanupHoster   = (*lifecycleManager)(nil)
	_ managers.Resetter        = (*lifecycleManager)(nil)
)

func (m *lifecycleManager) InitHost(ctx context.Context, rec *servicegroup.Record) error {
	if rec == nil {
		m.j.add("init_host(nil)")
	} else {
		m.j.add("init_host(record v" + strconv.Itoa(rec.Version) + ")")
	}
	return nil
}

func (m *lifecycleManager) PreStartHook(ctx context.Context, rec *servicegroup.Record) error {
	m.j.add("pre_start_hook(record v" + strconv.Itoa(rec.Version) + ")")
	return nil
}

func (m *lifecycleManager) PostStartHook(context.Context) error {
	m.j.add("post_start_hook")
	return nil
}
func (m *lifecycleManager) CleanupHost(context.Context) error {
	m.j.add("cleanup_host")
	if _, hang := hangingCleanup.Load(m.j); hang {
		// Holds a pooled connection and ignores its context: only the
		// runtime's bound ends the stop, and closing the pool must not
		// wait for the connection.
		if m.db != nil {
			if _, err := m.db.Acquire(context.Background()); err != nil {
				m.j.add("acquire: " + err.Error())
			}
		}
		select {}
	}
	return nil
}

// hangingCleanup holds the journals whose manager's CleanupHost never returns.
var hangingCleanup sync.Map

func (m *lifecycleManager) Reset(context.Context) error { m.j.add("reset"); return nil }
func (m *lifecycleManager) PeriodicTasks() []managers.PeriodicTask {
	return nil
}

type slowRequest struct {
	Hold bool `json:"hold"`
}

func (m *lifecycleManager) RPCMethods() []managers.Method {
	return []managers.Method{
		managers.NewMethod("slow", "1.0", func(ctx context.Context, req slowRequest) (string, error) {
			m.j.add("slow started")
			close(m.j.started)
			select {
			case <-m.j.release:
			case <-ctx.Done():
				m.j.add("slow cancelled")
				return "", ctx.Err()
			}
			m.j.add("slow finished")
			return "done", nil
		}),
	}
}

func init() {
	managers.Register(managers.Definition{
		Name: lifecycleTopic, Topic: lifecycleTopic, Version: 1,
		New: func(d managers.Deps) (managers.Manager, error) {
			return &lifecycleManager{j: journalOf(d.Host), db: d.DB}, nil
		},
	})
}

func (h *harness) startLifecycle(cfg Config) *Service {
	h.t.Helper()
	svc, err := Create(cfg, Options{Topic: lifecycleTopic, Logger: testLogger(h.t)})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		h.t.Fatalf("start: %v", err)
	}
	h.t.Cleanup(func() { svc.Stop(context.Background()) })
	return svc
}

func TestCreateDefaults(t *testing.T) {
	args := os.Args
	t.Cleanup(func() { os.Args = args })
	cases := []struct {
		argv0, topic     string
		binary, wantTopc string
		err              string
	}{
		{argv0: "/usr/bin/novaflow-lifecycle", binary: "novaflow-lifecycle", wantTopc: "lifecycle"},
		{argv0: "/usr/bin/novaflow", topic: "lifecycle", binary: "novaflow-lifecycle", wantTopc: "lifecycle"},
		{argv0: "/usr/bin/novaflow", err: "use `novaflow run <topic>`"},
		{argv0: "novaflow-nosuchtopic", err: `no manager for topic "nosuchtopic"`},
	}
	for _, c := range cases {
		t.Run(c.argv0+"/"+c.topic, func(t *testing.T) {
			os.Args = []string{c.argv0}
			cfg := DefaultConfig()
			cfg.Host = "h1"
			svc, err := Create(cfg, Options{Topic: c.topic})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Create: err %v, want it to contain %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if svc.Binary() != c.binary || svc.Topic() != c.wantTopc || svc.Host() != "h1" || svc.HostQueue() != c.wantTopc+".h1" {
				t.Fatalf("got binary %s topic %s host %s queue %s", svc.Binary(), svc.Topic(), svc.Host(), svc.HostQueue())
			}
		})
	}
}

func TestCreateManagerOverride(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Host = "h1"
	_, err := Create(cfg, Options{Topic: lifecycleTopic, Env: Env{"NOVAFLOW_LIFECYCLE_MANAGER": "nope"}})
	if err == nil || !strings.Contains(err.Error(), `NOVAFLOW_LIFECYCLE_MANAGER: unknown manager "nope"`) {
		t.Fatalf("err = %v", err)
	}
	other := testenv.UniqueName(t, "other")
	registerTestTopic(other)
	// Registered, but for another topic.
	_, err = Create(cfg, Options{Topic: lifecycleTopic, Env: Env{"NOVAFLOW_LIFECYCLE_MANAGER": other}})
	if err == nil || !strings.Contains(err.Error(), `serves topic "`+other+`", not "lifecycle"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := LoadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	hostname, _ := os.Hostname()
	if cfg.Host != hostname || cfg.ReportInterval != 10*time.Second || cfg.ServiceDownTime != 25*time.Second ||
		!cfg.PeriodicEnable || cfg.PeriodicFuzzyDelay != time.Minute || cfg.PeriodicIntervalMax != 0 ||
		cfg.RPCResponseTimeout != time.Minute || cfg.TemporalAddress != "127.0.0.1:7233" {
		t.Fatalf("defaults: %+v", cfg)
	}
	bad := []struct{ key, value, want string }{
		{"NOVAFLOW_REPORT_INTERVAL", "ten", `NOVAFLOW_REPORT_INTERVAL: cannot parse "ten"`},
		{"NOVAFLOW_REPORT_INTERVAL", "-1s", "NOVAFLOW_REPORT_INTERVAL: must not be negative"},
		{"NOVAFLOW_PERIODIC_ENABLE", "maybe", "NOVAFLOW_PERIODIC_ENABLE: cannot parse"},
		{"NOVAFLOW_LOG_FORMAT", "xml", "NOVAFLOW_LOG_FORMAT"},
		{"NOVAFLOW_TEMPORAL_GRPC_COMPRESSION", "zstd", "NOVAFLOW_TEMPORAL_GRPC_COMPRESSION"},
		{"NOVAFLOW_HOST", "a b", "NOVAFLOW_HOST"},
		{"NOVAFLOW_RPC_RESPONSE_TIMEOUT", "0s", "NOVAFLOW_RPC_RESPONSE_TIMEOUT: must be positive"},
		{"NOVAFLOW_CONFIG_FILE", filepath.Join(t.TempDir(), "missing"), "NOVAFLOW_CONFIG_FILE"},
	}
	for _, b := range bad {
		t.Run(b.key+"="+b.value, func(t *testing.T) {
			env, err := LoadEnv([]string{b.key + "=" + b.value})
			if err == nil {
				_, err = LoadConfig(env)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("err = %v, want a *ConfigError containing %q", err, b.want)
			}
		})
	}
}

// TestStartOrder checks nova's start order, step for step, on a first start
// and on a restart, and that the record carries the code's version.
func TestStartOrder(t *testing.T) {
	h := newHarness(t)
	host := testenv.UniqueName(t, "h")
	cfg := h.config(host)
	cfg.ReportInterval = 0
	svc := h.startLifecycle(cfg)

	// After Start: the record exists and both queues have a poller.
	rec, err := h.store.Get(context.Background(), host, "novaflow-lifecycle")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Topic != lifecycleTopic || rec.Version != 1 || rec.ReportCount != 0 || rec.BuildID != "" {
		t.Fatalf("record %+v", rec)
	}
	for _, q := range []string{lifecycleTopic, svc.HostQueue()} {
		waitFor(t, 10*time.Second, "a poller on "+q, func() bool { return hasPoller(t, h.c, q) })
	}
	if !svc.Ready() {
		t.Fatal("not ready after Start")
	}
	svc.Stop(context.Background())
	if svc.Ready() {
		t.Fatal("ready after Stop")
	}

	// A restart sees its record in InitHost, and records its build ID, which
	// a build has whether its workers are versioned or not.
	cfg.BuildID, cfg.Versioning = "lifecycle-build-2", VersioningOff
	svc2 := h.startLifecycle(cfg)
	svc2.Stop(context.Background())
	want := []string{
		"init_host(nil)", "pre_start_hook(record v1)", "post_start_hook", "cleanup_host",
		"init_host(record v1)", "pre_start_hook(record v1)", "post_start_hook", "cleanup_host",
	}
	if got := journalOf(host).list(); !slices.Equal(got, want) {
		t.Fatalf("hook calls:\n got %q\nwant %q", got, want)
	}
	rec2, err := h.store.Get(context.Background(), host, "novaflow-lifecycle")
	if err != nil || rec2.UUID != rec.UUID {
		t.Fatalf("restart made a new record: %v %+v", err, rec2)
	}
	if rec2.BuildID != "lifecycle-build-2" {
		t.Errorf("the restart's record has build ID %q, want lifecycle-build-2 (NOVAFLOW_BUILD_ID)", rec2.BuildID)
	}
}

// TestVersionRefusal: when the other services of the binary already run a
// newer version, an older one refuses to start (nova's ServiceTooOld) and
// writes no record.
func TestVersionRefusal(t *testing.T) {
	h := newHarness(t)
	host := testenv.UniqueName(t, "h")
	if _, err := h.store.Register(context.Background(), "newer-host", "novaflow-lifecycle", lifecycleTopic, 5, ""); err != nil {
		t.Fatal(err)
	}
	cfg := h.config(host)
	cfg.ReportInterval = 0
	svc, err := Create(cfg, Options{Topic: lifecycleTopic, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Start(context.Background())
	var tooOld *servicegroup.TooOldError
	if !errors.As(err, &tooOld) || tooOld.MinVersion != 5 || tooOld.Version != 1 {
		t.Fatalf("Start: %v, want *servicegroup.TooOldError 1 < 5", err)
	}
	if _, err := h.store.Get(context.Background(), host, "novaflow-lifecycle"); !errors.Is(err, servicegroup.ErrNotFound) {
		t.Fatalf("a refused service wrote its record: %v", err)
	}
	if svc.Ready() {
		t.Fatal("a refused service is ready")
	}
}

// TestResetOnSIGHUP: SIGHUP re-reads NOVAFLOW_CONFIG_FILE, applies the mutable
// settings and calls the manager's Reset, without a restart.
func TestResetOnSIGHUP(t *testing.T) {
	h := newHarness(t)
	host := testenv.UniqueName(t, "h")
	file := filepath.Join(t.TempDir(), "novaflow.env")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	cfg := h.config(host)
	cfg.ReportInterval = 0
	cfg.ConfigFile = file
	// Reset reads the environment and the file again, as cmd's Reload does.
	environ := []string{"NOVAFLOW_CONFIG_FILE=" + file, "NOVAFLOW_HOST=" + host,
		"NOVAFLOW_REPORT_INTERVAL=0s", "NOVAFLOW_PERIODIC_FUZZY_DELAY=60s"}
	reload := func() (Env, error) { return LoadEnv(environ) }
	svc, err := Create(cfg, Options{Topic: lifecycleTopic, Logger: testLogger(t), Reload: reload})
	if err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 1)
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		done <- Run(context.Background(), RunOptions{Signals: sigs, Logger: testLogger(t), Started: func() { close(started) }}, svc)
	}()
	<-started
	write("# changed by the operator\nNOVAFLOW_PERIODIC_FUZZY_DELAY=7s\nNOVAFLOW_LOG_LEVEL=\"debug\"\n" +
		"NOVAFLOW_RPC_RESPONSE_TIMEOUT=5s\nNOVAFLOW_CAST_TIMEOUT=10m\nNOVAFLOW_SERVICE_DOWN_TIME=40s\n" +
		rpc.UpgradeLevelEnv(lifecycleTopic) + "=1.1\n")
	sigs <- syscall.SIGHUP
	waitFor(t, 10*time.Second, "reset", func() bool { return slices.Contains(journalOf(host).list(), "reset") })
	if got := svc.Config(); got.PeriodicFuzzyDelay != 7*time.Second || got.LogLevel != "debug" {
		t.Fatalf("after SIGHUP: fuzzy delay %s, log level %s", got.PeriodicFuzzyDelay, got.LogLevel)
	}
	// What RPC clients, workflows and activities read when they use it.
	if r, c := svc.live.rpcTimeouts(); r != 5*time.Second || c != 10*time.Minute || svc.live.castTimeout() != 10*time.Minute || svc.live.downTime() != 40*time.Second {
		t.Fatalf("after SIGHUP: response %s, cast %s, down time %s in force; want 5s, 10m, 40s", r, c, svc.live.downTime())
	}
	if got := svc.live.upgradeLevels()[lifecycleTopic]; got != "1.1" {
		t.Fatalf("after SIGHUP: upgrade level of %s %q in force, want 1.1", lifecycleTopic, got)
	}
	if !svc.Ready() {
		t.Fatal("SIGHUP stopped the service")
	}
	sigs <- syscall.SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("Run after SIGTERM: %v", err)
	}
	if got := journalOf(host).list(); got[len(got)-1] != "cleanup_host" {
		t.Fatalf("journal %q", got)
	}
}

// slowCaller is a workflow that runs lifecycle.slow on the given host queue.
func slowCaller(ctx workflow.Context, queue string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: queue, StartToCloseTimeout: time.Minute})
	var out string
	err := workflow.ExecuteActivity(ctx, "lifecycle.slow", map[string]any{}).Get(ctx, &out)
	return out, err
}

// TestGracefulStopLetsInFlightWorkFinish: on SIGTERM the service stops taking
// work, but the activity it is running finishes and reports its result
// before CleanupHost runs and Run returns.
func TestGracefulStopLetsInFlightWorkFinish(t *testing.T) {
	h := newHarness(t)
	host := testenv.UniqueName(t, "h")
	cfg := h.config(host)
	cfg.ReportInterval = 0
	cfg.GracefulShutdownTimeout = 30 * time.Second
	svc, err := Create(cfg, Options{Topic: lifecycleTopic, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 1)
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		done <- Run(context.Background(), RunOptions{Signals: sigs, Logger: testLogger(t), Started: func() { close(started) }}, svc)
	}()
	<-started

	callerQueue := testenv.UniqueName(t, "caller")
	w := sdkworker.New(h.c, callerQueue, sdkworker.Options{})
	w.RegisterWorkflow(slowCaller)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := h.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: callerQueue}, slowCaller, svc.HostQueue())
	if err != nil {
		t.Fatal(err)
	}
	j := journalOf(host)
	select {
	case <-j.started:
	case <-time.After(30 * time.Second):
		t.Fatal("slow never started")
	}
	sigs <- syscall.SIGTERM
	// The stop waits for the activity: Run has not returned a second later.
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while an activity was in flight", err)
	case <-time.After(time.Second):
	}
	close(j.release)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	var out string
	if err := run.Get(context.Background(), &out); err != nil || out != "done" {
		t.Fatalf("in-flight call: %q, %v", out, err)
	}
	want := []string{"init_host(nil)", "pre_start_hook(record v1)", "post_start_hook", "slow started", "slow finished", "cleanup_host"}
	if got := j.list(); !slices.Equal(got, want) {
		t.Fatalf("journal:\n got %q\nwant %q", got, want)
	}
}

// TestCleanupHostIsBounded: a CleanupHost that never returns holds Stop
// only until the graceful shutdown timeout, as nova's forced exit does.
func TestCleanupHostIsBounded(t *testing.T) {
	h := newHarness(t)
	host := testenv.UniqueName(t, "h")
	cfg := h.config(host)
	cfg.ReportInterval = 0
	cfg.GracefulShutdownTimeout = 2 * time.Second
	hangingCleanup.Store(journalOf(host), true)
	svc := h.startLifecycle(cfg)
	start := time.Now()
	stopped := make(chan struct{})
	go func() {
		svc.Stop(context.Background())
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Stop still waits for CleanupHost 20 s later, with a graceful shutdown timeout of 2 s")
	}
	if took := time.Since(start); took < cfg.GracefulShutdownTimeout || took > cfg.GracefulShutdownTimeout+5*time.Second {
		t.Errorf("Stop took %s, want about the graceful shutdown timeout, %s", took, cfg.GracefulShutdownTimeout)
	}
	if svc.Ready() {
		t.Error("ready after Stop")
	}
}

func hasPoller(t *testing.T, c client.Client, queue string) bool {
	t.Helper()
	resp, err := c.DescribeTaskQueue(context.Background(), queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
	if err != nil {
		t.Fatalf("describe %s: %v", queue, err)
	}
	return len(resp.GetPollers()) > 0
}

// testLogger logs to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(newLogBuffer(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHealthEndpoints: /healthz answers while the process runs; /readyz only
// while every service is started and not stopping.
func TestHealthEndpoints(t *testing.T) {
	h := newHarness(t)
	host := testenv.UniqueName(t, "h")
	cfg := h.config(host)
	cfg.ReportInterval = 0
	svc, err := Create(cfg, Options{Topic: lifecycleTopic, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	health := NewHealth(svc)
	if err := health.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { health.Stop(context.Background()) })
	get := func(path string) int {
		t.Helper()
		resp, err := http.Get("http://" + health.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/healthz") != 200 || get("/readyz") != 503 {
		t.Fatal("before start: want /healthz 200 and /readyz 503")
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if get("/readyz") != 200 {
		t.Fatal("started: /readyz is not 200")
	}
	svc.Stop(context.Background())
	if get("/healthz") != 200 || get("/readyz") != 503 {
		t.Fatal("after stop: want /healthz 200 and /readyz 503")
	}
}

// TestGracefulStopIsParallel: Run stops its services in parallel, after
// RunOptions.Stopping: two services whose CleanupHost each holds its stop
// for the graceful shutdown timeout stop in about one timeout, not two.
func TestGracefulStopIsParallel(t *testing.T) {
	h := newHarness(t)
	var services []*Service
	for range 2 {
		host := testenv.UniqueName(t, "h")
		cfg := h.config(host)
		cfg.ReportInterval = 0
		cfg.GracefulShutdownTimeout = 2 * time.Second
		hangingCleanup.Store(journalOf(host), true)
		svc, err := Create(cfg, Options{Topic: lifecycleTopic, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		services = append(services, svc)
	}
	sigs := make(chan os.Signal, 1)
	done := make(chan error, 1)
	started := make(chan struct{})
	var stoppingReady []bool
	opts := RunOptions{Signals: sigs, Logger: testLogger(t), Started: func() { close(started) },
		Stopping: func() {
			for _, s := range services {
				stoppingReady = append(stoppingReady, s.Ready())
			}
		}}
	go func() { done <- Run(context.Background(), opts, services...) }()
	<-started
	begin := time.Now()
	sigs <- syscall.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run still stopping 20 s after SIGTERM")
	}
	if took := time.Since(begin); took > 3500*time.Millisecond {
		t.Errorf("stopping two services with a 2 s CleanupHost each took %s, want about 2 s (in parallel)", took)
	}
	if !slices.Equal(stoppingReady, []bool{true, true}) {
		t.Errorf("Stopping saw the services ready %v, want it called before any stops", stoppingReady)
	}
	for _, s := range services {
		if s.Ready() {
			t.Errorf("%s ready after Run", s.Host())
		}
	}
}
