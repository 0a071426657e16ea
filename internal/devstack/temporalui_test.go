package devstack

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartTemporalUI starts the Web UI server of tools/temporal for a real
// Temporal server (the dev server, started without its own UI): the UI's
// page is served, its API lists the server's namespace, and Stop frees the
// port. A taken port is a start error naming it.
func TestStartTemporalUI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	srv, err := StartTemporal(ctx, TemporalOptions{Progress: os.Stderr, Namespace: "novaflow-ui"})
	if err != nil {
		t.Fatalf("StartTemporal: %v", err)
	}
	defer srv.Stop()
	port, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	hostPort := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	start := time.Now()
	ui, err := StartTemporalUI(ctx, TemporalUIOptions{Address: srv.Address(), HostPort: hostPort, Namespace: "novaflow-ui", Progress: os.Stderr})
	if err != nil {
		t.Fatalf("StartTemporalUI: %v", err)
	}
	t.Logf("Web UI for %s at %s in %s", srv.Address(), ui.URL(), time.Since(start).Round(time.Millisecond))
	if ui.URL() != "http://"+hostPort {
		t.Errorf("URL() = %q", ui.URL())
	}
	checkUIServes(t, ctx, ui.URL(), "novaflow-ui")

	// Another UI on the same port does not start.
	if other, err := StartTemporalUI(ctx, TemporalUIOptions{Address: srv.Address(), HostPort: hostPort}); err == nil {
		other.Stop()
		t.Error("a second UI started on a taken port")
	} else if !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("taken port: %v, want the port named", err)
	}

	if err := ui.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if _, err := http.Get(ui.URL() + "/"); err == nil {
		t.Error("the UI still answers after Stop")
	}
}

// checkUIServes checks that url serves Temporal's Web UI page and that its
// API lists namespace.
func checkUIServes(t *testing.T, ctx context.Context, url, namespace string) {
	t.Helper()
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(page), "/_app/immutable/") {
		t.Errorf("GET %s/: %s %s, %d bytes, want the UI's page", url, resp.Status, resp.Header.Get("Content-Type"), len(page))
	}
	if ok, err := UIServesNamespace(ctx, url, namespace); !ok {
		t.Errorf("the UI's API does not list namespace %s: %v", namespace, err)
	}
	if ok, _ := UIServesNamespace(ctx, url, "no-such-namespace"); ok {
		t.Error("UIServesNamespace lists a namespace that does not exist")
	}
}
