package worker

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
)

// getBody asks url and returns the status code and body.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// silentListener accepts connections and never answers on them: a
// dependency that hangs.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestReadyzChecksDependencies: /readyz checks the database and Temporal of
// the started services, each within its timeout: a Temporal that does not
// answer and a closed pool fail their checks, by name, at once.
func TestReadyzChecksDependencies(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	hung, err := client.NewLazyClient(client.Options{HostPort: silentListener(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	s := &Service{binary: "novaflow-x", host: "h1"}
	s.ready.Store(true)
	s.conns.Store(&conns{pool: pool, client: hung})
	h := NewHealth(s)
	h.CheckTimeout = 300 * time.Millisecond
	srv := httptest.NewServer(h.mux)
	defer srv.Close()

	start := time.Now()
	code, body := getBody(t, srv.URL+"/readyz")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("/readyz took %s with a hung Temporal, want about the check timeout", took)
	}
	for _, want := range []string{"[+]services ok", "[+]postgresql ok", "[-]temporal failed: ", "readyz check failed"} {
		if code != http.StatusServiceUnavailable || !strings.Contains(body, want) {
			t.Errorf("/readyz = %d\n%s\nwant 503 with %q", code, body, want)
		}
	}

	s.conns.Store(&conns{pool: pool})
	if code, body := getBody(t, srv.URL+"/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz = %d %q, want 200 ok", code, body)
	}
	code, body = getBody(t, srv.URL+"/readyz?verbose")
	if want := "[+]services ok\n[+]postgresql ok\n[+]temporal ok\nreadyz check passed\n"; code != http.StatusOK || body != want {
		t.Errorf("/readyz?verbose = %d\n%s\nwant 200\n%s", code, body, want)
	}

	pool.Close() // the database is gone
	code, body = getBody(t, srv.URL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]postgresql failed: ping: ") {
		t.Errorf("/readyz with a closed pool = %d\n%s\nwant 503 naming postgresql", code, body)
	}
}

func TestAddReadyzCheckTwicePanics(t *testing.T) {
	defer func() {
		if r := recover(); r != `worker: readyz check "services" added twice` {
			t.Fatalf("panic = %v", r)
		}
	}()
	NewHealth().AddReadyzCheck("services", func(*http.Request) error { return nil })
}

// A service of topic slowstart blocks in InitHost until its gate opens.
const slowStartTopic = "slowstart"

type slowStartGate struct{ entered, release chan struct{} }

var slowStartGates sync.Map // host -> *slowStartGate

func gateOf(host string) *slowStartGate {
	g, _ := slowStartGates.LoadOrStore(host, &slowStartGate{entered: make(chan struct{}), release: make(chan struct{})})
	return g.(*slowStartGate)
}

type slowStartManager struct{ gate *slowStartGate }

var _ managers.InitHoster = (*slowStartManager)(nil)

func (m *slowStartManager) RPCMethods() []managers.Method          { return nil }
func (m *slowStartManager) PeriodicTasks() []managers.PeriodicTask { return nil }
func (m *slowStartManager) InitHost(ctx context.Context, _ *servicegroup.Record) error {
	close(m.gate.entered)
	select {
	case <-m.gate.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func init() {
	managers.Register(managers.Definition{
		Name: slowStartTopic, Topic: slowStartTopic, Version: 1,
		New: func(d managers.Deps) (managers.Manager, error) { return &slowStartManager{gate: gateOf(d.Host)}, nil },
	})
}

// TestReadyWhileStartBlocks: while Start waits in a hook (or on a network
// call), Ready and /readyz answer at once that the service is not ready.
func TestReadyWhileStartBlocks(t *testing.T) {
	h := newHarness(t)
	host := testenv.UniqueName(t, "h")
	cfg := h.config(host)
	cfg.ReportInterval = 0
	svc, err := Create(cfg, Options{Topic: slowStartTopic, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	health := NewHealth(svc)
	srv := httptest.NewServer(health.mux)
	defer srv.Close()
	gate := gateOf(host)
	started := make(chan error, 1)
	go func() { started <- svc.Start(context.Background()) }()
	select {
	case <-gate.entered:
	case err := <-started:
		t.Fatalf("Start returned %v before InitHost", err)
	case <-time.After(time.Minute):
		t.Fatal("InitHost not called within a minute")
	}

	ready := make(chan bool, 1)
	go func() { ready <- svc.Ready() }()
	select {
	case r := <-ready:
		if r {
			t.Fatal("Ready() = true while Start runs")
		}
	case <-time.After(time.Second):
		t.Fatal("Ready() blocked while Start runs")
	}
	start := time.Now()
	code, body := getBody(t, srv.URL+"/readyz")
	if took := time.Since(start); code != http.StatusServiceUnavailable || took > time.Second ||
		!strings.Contains(body, "[-]services failed: novaflow-slowstart on "+host+" is not ready") {
		t.Fatalf("/readyz during Start = %d after %s\n%s\nwant 503 at once", code, took, body)
	}

	close(gate.release)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(context.Background())
	code, body = getBody(t, srv.URL+"/readyz?verbose")
	if want := "[+]services ok\n[+]postgresql ok\n[+]temporal ok\nreadyz check passed\n"; code != http.StatusOK || body != want {
		t.Fatalf("/readyz?verbose once started = %d\n%s\nwant 200\n%s", code, body, want)
	}
}
