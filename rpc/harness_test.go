package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The test manager's service versions and what each speaks.
const (
	testServiceVersion = 2
	testAPIVersion     = "1.1"
)

// state is what a test's services share: how often each key ran, and gates
// that hold "block" calls until released.
type state struct {
	mu    sync.Mutex
	runs  map[string]int
	gates map[string]chan struct{}
}

func (s *state) run(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[key]++
	return s.runs[key]
}

func (s *state) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[key]
}

func (s *state) gate(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.gates[key]
	if !ok {
		g = make(chan struct{})
		s.gates[key] = g
	}
	return g
}

func (s *state) release(key string) {
	g := s.gate(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-g:
	default:
		close(g)
	}
}

func (s *state) releaseAll() {
	s.mu.Lock()
	keys := make([]string, 0, len(s.gates))
	for k := range s.gates {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	for _, k := range keys {
		s.release(k)
	}
}

// testManager is the manager the tests call: methods that succeed, fail
// typed, fail untyped for a while, and block until released.
type testManager struct {
	topic string
	host  string
	st    *state
}

func (m *testManager) PeriodicTasks() []managers.PeriodicTask { return nil }

type echoReq struct {
	Msg          string `json:"msg" required:"true"`
	InstanceUUID string `json:"instance_uuid,omitempty"`
}

type echoResp struct {
	Msg        string `json:"msg"`
	Host       string `json:"host"`
	InActivity bool   `json:"in_activity"`
}

type failReq struct {
	Type    string `json:"type" required:"true"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message,omitempty"`
}

type keyReq struct {
	Key      string `json:"key" required:"true"`
	Failures int    `json:"failures,omitempty"`
}

type keyResp struct {
	Runs int    `json:"runs"`
	Host string `json:"host"`
}

type whereReq struct {
	Host string `json:"host"`
}

type whereResp struct {
	Host  string `json:"host"`
	RanOn string `json:"ran_on"`
}

func testMethods(host string, st *state) []managers.Method {
	return (&testManager{host: host, st: st}).RPCMethods()
}

func (m *testManager) RPCMethods() []managers.Method {
	return []managers.Method{
		managers.NewMethod("echo", "1.0", m.echo).WithObject("instance_uuid"),
		managers.NewMethod("newer", "1.1", m.echo).WithSince("1.1"),
		managers.NewMethod("fail", "1.0", m.fail),
		managers.NewMethod("count", "1.0", m.count),
		managers.NewMethod("flaky", "1.0", m.flaky),
		managers.NewMethod("broken", "1.0", m.broken),
		managers.NewMethod("block", "1.0", m.block),
		managers.NewMethod("where", "1.0", m.where),
		// API 1.1 added greet's title and the method wave.
		managers.NewMethod("greet", "1.1", m.greet),
		managers.NewMethod("wave", "1.1", m.greet).WithSince("1.1"),
	}
}

// Workflows declares the workflow that makes versioned calls from workflow
// code (mixed_version_test.go).
func (m *testManager) Workflows() []managers.Workflow {
	return []managers.Workflow{{Name: m.topic + ".versioned_caller", Func: versionedCaller(m.topic)}}
}

func (m *testManager) echo(ctx context.Context, req echoReq) (echoResp, error) {
	return echoResp{Msg: req.Msg, Host: m.host, InActivity: activity.IsActivity(ctx)}, nil
}

func (m *testManager) fail(ctx context.Context, req failReq) (struct{}, error) {
	return struct{}{}, &managers.Error{Type: req.Type, Field: req.Field, Message: req.Message}
}

func (m *testManager) count(ctx context.Context, req keyReq) (keyResp, error) {
	return keyResp{Runs: m.st.run(req.Key), Host: m.host}, nil
}

func (m *testManager) flaky(ctx context.Context, req keyReq) (keyResp, error) {
	n := m.st.run(req.Key)
	if n <= req.Failures {
		return keyResp{}, fmt.Errorf("transient failure %d of %d", n, req.Failures)
	}
	return keyResp{Runs: n, Host: m.host}, nil
}

// broken fails every time with an untyped error of a Go type of its own.
func (m *testManager) broken(ctx context.Context, req keyReq) (keyResp, error) {
	return keyResp{}, &fs.PathError{Op: "open", Path: req.Key, Err: fs.ErrNotExist}
}

func (m *testManager) block(ctx context.Context, req keyReq) (keyResp, error) {
	n := m.st.run(req.Key)
	select {
	case <-m.st.gate(req.Key):
		return keyResp{Runs: n, Host: m.host}, nil
	case <-ctx.Done():
		return keyResp{}, ctx.Err()
	}
}

func (m *testManager) where(ctx context.Context, req whereReq) (whereResp, error) {
	return whereResp{Host: req.Host, RanOn: m.host}, nil
}

// fixture is one test's deployment: a topic of its own (so tests sharing the
// Temporal server never take each other's work), a fresh database, and
// services started on demand.
type fixture struct {
	t        *testing.T
	topic    string
	binary   string
	srv      *testenv.TemporalServer
	temporal client.Client
	dbURL    string
	pool     *pgxpool.Pool
	store    *servicegroup.Store
	st       *state

	mu       sync.Mutex
	services map[string]*worker.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := testenv.Temporal(t)
	f := &fixture{
		t:        t,
		topic:    testenv.UniqueName(t, "rpc"),
		srv:      srv,
		temporal: srv.Client(t),
		dbURL:    testenv.Postgres(t),
		st:       &state{runs: map[string]int{}, gates: map[string]chan struct{}{}},
		services: map[string]*worker.Service{},
	}
	f.binary = worker.BinaryPrefix + f.topic
	st := f.st
	managers.Register(managers.Definition{
		Name:        f.topic,
		Topic:       f.topic,
		Version:     testServiceVersion,
		RPCVersions: map[int]string{1: "1.0", testServiceVersion: testAPIVersion},
		Methods:     func() []managers.Method { return testMethods("", nil) },
		New: func(d managers.Deps) (managers.Manager, error) {
			return &testManager{topic: d.Topic, host: d.Host, st: st}, nil
		},
	})
	ctx := context.Background()
	pool, err := db.Open(ctx, f.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := db.Migrate(ctx, pool, nil, db.Core()); err != nil {
		t.Fatal(err)
	}
	f.pool = pool
	f.store = servicegroup.NewStore(pool)
	return f
}

func (f *fixture) config(host string) worker.Config {
	cfg := worker.DefaultConfig()
	cfg.Host, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL = host, f.srv.Address(), f.srv.Namespace(), f.dbURL
	cfg.ReportInterval, cfg.PeriodicEnable = 0, false
	cfg.GracefulShutdownTimeout, cfg.LogLevel = 2*time.Second, "warn"
	return cfg
}

// start starts the service of the fixture's topic on host.
func (f *fixture) start(host string) *worker.Service {
	f.t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{f.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, err := worker.Create(f.config(host), worker.Options{
		Topic: f.topic, Binary: f.binary, Temporal: f.temporal, DB: f.pool, Logger: logger,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		f.t.Fatalf("start %s on %s: %v", f.topic, host, err)
	}
	f.mu.Lock()
	f.services[host] = svc
	f.mu.Unlock()
	f.t.Cleanup(func() {
		f.st.releaseAll()
		svc.Stop(context.Background())
	})
	return svc
}

// stop stops the service on host, as SIGTERM would.
func (f *fixture) stop(host string) {
	f.mu.Lock()
	svc := f.services[host]
	delete(f.services, host)
	f.mu.Unlock()
	svc.Stop(context.Background())
}

// client returns an RPC client of the fixture's Temporal server.
func (f *fixture) client(opts rpc.Options) *rpc.Client {
	f.t.Helper()
	opts.Temporal = f.temporal
	if opts.Services == nil {
		opts.Services = f.store
	}
	c, err := rpc.New(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// ghost writes the service row of host at version without running the
// service: a host the services table says is up that does not answer.
func (f *fixture) ghost(host string, version int) {
	f.t.Helper()
	_, err := f.pool.Exec(context.Background(), `
		INSERT INTO services (host, "binary", topic, version) VALUES ($1, $2, $3, $4)
		ON CONFLICT (host, "binary") WHERE NOT deleted DO UPDATE SET version = EXCLUDED.version`,
		host, f.binary, f.topic, version)
	if err != nil {
		f.t.Fatal(err)
	}
}

// historyEvents returns the event types of a workflow's history.
func (f *fixture) historyEvents(id string) []enums.EventType {
	f.t.Helper()
	var out []enums.EventType
	it := f.temporal.GetWorkflowHistory(context.Background(), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, e.GetEventType())
	}
	return out
}

func hasEvent(events []enums.EventType, want enums.EventType) bool {
	for _, e := range events {
		if e == want {
			return true
		}
	}
	return false
}

// asError returns err's *managers.Error or fails the test.
func asError(t *testing.T, err error) *managers.Error {
	t.Helper()
	if err == nil {
		t.Fatal("no error; want a typed error")
	}
	var e *managers.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *managers.Error", err, err)
	}
	return e
}

// testWriter sends log lines to the test log while the test runs.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // the test may be over
	w.t.Log(string(p))
	return len(p), nil
}
