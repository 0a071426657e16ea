package worker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Checker is a named health check: nil means healthy.
type Checker func(*http.Request) error

// Health serves /healthz (the process is alive and serving) and /readyz (every
// service has started and none is stopping). Further handlers, such as
// /metrics, can be added with Handle before Start.
type Health struct {
	mux    *http.ServeMux
	server *http.Server
	ln     net.Listener
}

// NewHealth returns a Health whose /readyz reports the given services.
func NewHealth(services ...*Service) *Health {
	h := &Health{mux: http.NewServeMux()}
	h.mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	h.mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		for _, s := range services {
			if !s.Ready() {
				http.Error(w, fmt.Sprintf("%s on %s is not ready", s.Binary(), s.Host()), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	return h
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
