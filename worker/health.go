package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
)

// DefaultCheckTimeout bounds each readiness check, so that /readyz answers
// within a Kubernetes probe's default timeout (1s) even when a dependency
// hangs.
const DefaultCheckTimeout = 800 * time.Millisecond

// Checker is a named health check: nil means healthy. It should return once
// the request's context is done; /readyz stops waiting for it then anyway.
type Checker func(*http.Request) error

// Health serves /healthz (the process is alive and serving) and /readyz (every
// check passes), as controller-runtime's manager does. NewHealth adds the
// checks of its services; AddReadyzCheck adds more. /readyz runs the checks
// at once, each bounded by CheckTimeout, and answers 200 "ok" or 503 with one
// line per check; /readyz?verbose lists them when all pass too:
//
//	[+]services ok
//	[-]postgresql failed: ping: context deadline exceeded
//	[+]temporal ok
//	readyz check failed
//
// Further handlers, such as /metrics, can be added with Handle before Start.
type Health struct {
	// CheckTimeout bounds each readiness check; 0 means DefaultCheckTimeout.
	CheckTimeout time.Duration

	mux    *http.ServeMux
	server *http.Server
	ln     net.Listener

	mu     sync.Mutex
	checks []namedCheck
}

type namedCheck struct {
	name  string
	check Checker
}

// NewHealth returns a Health whose /readyz has three checks of the given
// services: "services" (each has started and is not stopping; answered at
// once, even while a service starts), "postgresql" (a ping of each of their
// database pools) and "temporal" (the health check of each of their Temporal
// clients). Before a service has started, the last two have nothing of it to
// check.
func NewHealth(services ...*Service) *Health {
	h := &Health{mux: http.NewServeMux()}
	h.mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	h.mux.HandleFunc("/readyz", h.readyz)
	h.AddReadyzCheck("services", func(*http.Request) error {
		for _, s := range services {
			if !s.Ready() {
				return fmt.Errorf("%s on %s is not ready", s.Binary(), s.Host())
			}
		}
		return nil
	})
	h.AddReadyzCheck("postgresql", func(r *http.Request) error {
		for _, pool := range distinct(services, func(c *conns) *pgxpool.Pool { return c.pool }) {
			if err := pool.Ping(r.Context()); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
		return nil
	})
	h.AddReadyzCheck("temporal", func(r *http.Request) error {
		for _, c := range distinct(services, func(c *conns) client.Client { return c.client }) {
			if _, err := c.CheckHealth(r.Context(), &client.CheckHealthRequest{}); err != nil {
				return fmt.Errorf("health check: %w", err)
			}
		}
		return nil
	})
	return h
}

// distinct returns what get picks of the connections of the started
// services, once each: services of one process often share them.
func distinct[T comparable](services []*Service, get func(*conns) T) []T {
	var out []T
	seen := map[T]bool{}
	var zero T
	for _, s := range services {
		c := s.conns.Load()
		if c == nil {
			continue
		}
		if v := get(c); v != zero && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// AddReadyzCheck adds a named check to /readyz. Names are unique; adding a
// name twice panics.
func (h *Health) AddReadyzCheck(name string, check Checker) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.checks {
		if c.name == name {
			panic(fmt.Sprintf("worker: readyz check %q added twice", name))
		}
	}
	h.checks = append(h.checks, namedCheck{name, check})
}

func (h *Health) readyz(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	checks := h.checks
	h.mu.Unlock()
	timeout := h.CheckTimeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { errs[i] = runCheck(r, c.check, timeout) })
	}
	wg.Wait()

	var b strings.Builder
	failed := false
	for i, c := range checks {
		if errs[i] != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, errs[i])
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
	}
	switch {
	case failed:
		b.WriteString("readyz check failed\n")
		http.Error(w, strings.TrimSuffix(b.String(), "\n"), http.StatusServiceUnavailable)
	case r.URL.Query().Has("verbose"):
		b.WriteString("readyz check passed\n")
		fmt.Fprint(w, b.String())
	default:
		fmt.Fprintln(w, "ok")
	}
}

// errCheckTimeout is a check that did not answer within its timeout.
var errCheckTimeout = errors.New("no answer in time")

// runCheck runs check with a deadline, and stops waiting for it at the
// deadline even if it does not.
func runCheck(r *http.Request, check Checker, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- check(r.WithContext(ctx)) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w (%s)", errCheckTimeout, timeout)
	}
}

// Handle adds a handler, e.g. /metrics.
func (h *Health) Handle(pattern string, handler http.Handler) { h.mux.Handle(pattern, handler) }

// Start listens on addr (NOVAFLOW_HEALTH_ADDRESS) and serves in the background.
func (h *Health) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("NOVAFLOW_HEALTH_ADDRESS: %w", err)
	}
	h.ln = ln
	h.server = &http.Server{Handler: h.mux, ReadHeaderTimeout: 5 * time.Second}
	// Serve returns http.ErrServerClosed after Stop; any other end shows as
	// failing probes, which is what an orchestrator needs to see.
	go func() { _ = h.server.Serve(ln) }()
	return nil
}

// Addr is the address Start listens on (useful with port 0).
func (h *Health) Addr() string {
	if h.ln == nil {
		return ""
	}
	return h.ln.Addr().String()
}

// Stop closes the listener.
func (h *Health) Stop(ctx context.Context) error {
	if h.server == nil {
		return nil
	}
	return h.server.Shutdown(ctx)
}
