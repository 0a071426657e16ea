package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/novaflow/novaflow/workflows"
)

// TemporalServer is the Temporal server of the tests.
type TemporalServer struct {
	address   string
	namespace string
}

// Temporal returns the Temporal server of the tests: one in-memory dev server
// per test binary, started on first use with the dev stack's settings and
// novaflow's search attributes, or the server of NOVAFLOW_TEMPORAL_ADDRESS
// (namespace NOVAFLOW_TEMPORAL_NAMESPACE, default "default"), on which
// novaflow's search attributes are registered if missing. Tests share it:
// give each its own task queues and workflow IDs (UniqueName).
func Temporal(t testing.TB) *TemporalServer {
	t.Helper()
	srv, err := temporalServer()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return srv
}

// Address returns the frontend's host:port.
func (s *TemporalServer) Address() string { return s.address }

// Namespace returns the namespace the tests use.
func (s *TemporalServer) Namespace() string { return s.namespace }

// Client returns a new client of the namespace, closed when the test ends. The
// SDK's warnings and errors go to the test log. It sends worker heartbeats
// every second, as services' status reports need (worker.Options.Temporal).
func (s *TemporalServer) Client(t testing.TB) client.Client {
	t.Helper()
	w := &testLogWriter{t: t}
	c, err := client.Dial(client.Options{
		HostPort:  s.address,
		Namespace: s.namespace,
		Logger:    log.NewStructuredLogger(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		// The quickest the SDK takes: services of tests report every 1-2 s.
		WorkerHeartbeatInterval: time.Second,
	})
	if err != nil {
		t.Fatalf("testenv: connecting to Temporal at %s: %v", s.address, err)
	}
	t.Cleanup(func() {
		c.Close()
		w.close()
	})
	return c
}

// useTemporal checks an existing server and registers novaflow's search
// attributes on it if missing.
func useTemporal(addr, namespace string) (*TemporalServer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: namespace, Logger: discardLogger()})
	if err != nil {
		return nil, fmt.Errorf("connecting to the Temporal server of NOVAFLOW_TEMPORAL_ADDRESS=%s: %w", addr, err)
	}
	defer c.Close()
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("listing search attributes of namespace %s at %s: %w", namespace, addr, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for key := range workflows.SearchAttributes().GetUntypedValues() {
		if _, ok := list.GetCustomAttributes()[key.GetName()]; !ok {
			missing[key.GetName()] = key.GetValueType()
		}
	}
	if len(missing) > 0 {
		req := &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing}
		if _, err := c.OperatorService().AddSearchAttributes(ctx, req); err != nil {
			return nil, fmt.Errorf("registering novaflow's search attributes on namespace %s at %s: %w", namespace, addr, err)
		}
	}
	return &TemporalServer{address: addr, namespace: namespace}, nil
}

// discardLogger is a Temporal SDK logger that drops everything.
func discardLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.DiscardHandler))
}

// testLogWriter writes to the test log until the test is over, and drops
// what comes after (t.Log then panics).
type testLogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}
