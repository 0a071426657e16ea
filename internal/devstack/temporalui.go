package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// temporalUIReadyTimeout bounds the wait for a started UI server to answer.
const temporalUIReadyTimeout = 30 * time.Second

// BuildTemporalUI builds the Web UI server of tools/temporal (its uiserver
// tool: Temporal's UI server, github.com/temporalio/ui-server/v2, at the
// version the pinned CLI embeds) with `go tool -n uiserver`, cached by the Go
// build cache after the first time, and returns its path.
func BuildTemporalUI(ctx context.Context, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	root := findModuleRoot()
	if root == "" {
		return "", fmt.Errorf("no %s checkout found above the working directory: the Temporal Web UI server is built from its tools/temporal module", modulePath)
	}
	dir := filepath.Join(root, "tools", "temporal")
	path, err := goToolIn(ctx, dir, "the Temporal Web UI server (tools/temporal)", progress, "tool", "-n", "uiserver")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("the Temporal Web UI server in %s: %w", dir, err)
	}
	return path, nil
}

// TemporalUI is a running Temporal Web UI server (StartTemporalUI).
type TemporalUI struct {
	url  string
	proc *process
}

// TemporalUIOptions configures StartTemporalUI.
type TemporalUIOptions struct {
	// Address is the Temporal frontend's gRPC host:port (required).
	Address string
	// HostPort is where the UI listens, e.g. 127.0.0.1:8233 (required).
	HostPort string
	// Namespace is the namespace the UI opens; default "default".
	Namespace string
	// Progress receives progress lines while the server is built.
	Progress io.Writer
	// Stdout and Stderr receive the server's output; nil discards it (the
	// end of it still shows in start errors).
	Stdout, Stderr io.Writer
}

// StartTemporalUI builds (BuildTemporalUI) and starts Temporal's Web UI
// server for the Temporal server at opts.Address, as the CLI's dev server
// embeds it, and waits until its API answers. Call Stop.
func StartTemporalUI(ctx context.Context, opts TemporalUIOptions) (*TemporalUI, error) {
	if opts.Address == "" || opts.HostPort == "" {
		return nil, fmt.Errorf("starting the Temporal Web UI: TemporalUIOptions.Address and HostPort are required")
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	host, port, err := net.SplitHostPort(opts.HostPort)
	if err != nil {
		return nil, fmt.Errorf("starting the Temporal Web UI: HostPort %q: %w", opts.HostPort, err)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return nil, fmt.Errorf("starting the Temporal Web UI: HostPort %q: the port is not a number", opts.HostPort)
	}
	// A UI already on the port would answer for this one.
	l, err := net.Listen("tcp", opts.HostPort)
	if err != nil {
		return nil, fmt.Errorf("starting the Temporal Web UI on %s: %w", opts.HostPort, err)
	}
	l.Close()
	bin, err := BuildTemporalUI(ctx, opts.Progress)
	if err != nil {
		return nil, err
	}
	tail := newTailBuffer(8 << 10)
	cmd := exec.Command(bin, "--address", opts.Address, "--ip", host, "--port", port, "--namespace", opts.Namespace)
	cmd.Env = serverEnv()
	cmd.Stdout = io.MultiWriter(orDiscard(opts.Stdout), tail)
	cmd.Stderr = io.MultiWriter(orDiscard(opts.Stderr), tail)
	proc, err := startProcess("temporal web ui", cmd, nil)
	if err != nil {
		return nil, err
	}
	u := &TemporalUI{url: "http://" + net.JoinHostPort(host, port), proc: proc}
	if err := u.waitReady(ctx, opts.Namespace, tail); err != nil {
		_ = proc.stop()
		return nil, err
	}
	return u, nil
}

// waitReady waits until the UI's API lists the namespace: the UI server
// serves and reaches the Temporal server.
func (u *TemporalUI) waitReady(ctx context.Context, namespace string, tail *tailBuffer) error {
	ctx, cancel := context.WithTimeout(ctx, temporalUIReadyTimeout)
	defer cancel()
	var last error
	for {
		if done, exitErr := u.proc.exited(); done {
			return fmt.Errorf("starting the Temporal Web UI on %s: it exited: %v%s", u.url, exitErr, logTail("its output", tail))
		}
		ok, err := UIServesNamespace(ctx, u.url, namespace)
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the Temporal Web UI on %s: %w (last error: %v)%s", u.url, ctx.Err(), last, logTail("its output", tail))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// UIServesNamespace reports whether the Web UI at url answers its API's
// namespace list (GET /api/v1/namespaces) with namespace in it.
func UIServesNamespace(ctx context.Context, url, namespace string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/v1/namespaces", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, fmt.Errorf("GET /api/v1/namespaces: %s: %s", resp.Status, b)
	}
	var list struct {
		Namespaces []struct {
			NamespaceInfo struct {
				Name string `json:"name"`
			} `json:"namespaceInfo"`
		} `json:"namespaces"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return false, fmt.Errorf("GET /api/v1/namespaces: %w", err)
	}
	for _, n := range list.Namespaces {
		if n.NamespaceInfo.Name == namespace {
			return true, nil
		}
	}
	return false, fmt.Errorf("GET /api/v1/namespaces: namespace %s not listed", namespace)
}

// URL is the Web UI's address, http://host:port.
func (u *TemporalUI) URL() string { return u.url }

// Stop stops the UI server with SIGINT and waits for it.
func (u *TemporalUI) Stop() error { return u.proc.stop() }
