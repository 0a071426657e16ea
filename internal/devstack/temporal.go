package devstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/workflows"
)

// temporalReadyTimeout bounds the wait for a started dev server to serve its
// namespace, when the caller's context has no earlier deadline.
const temporalReadyTimeout = 2 * time.Minute

// TemporalServerArgs returns the flags novaflow always gives
// `temporal server start-dev` on top of address, namespace and search
// attributes; fileBacked says whether the server keeps a SQLite file
// (--db-filename).
//
//   - history.transferProcessorMaxPollRPS=10000: the default of 20 polls per
//     second caps the history transfer queue, which alone put ~45 ms on every
//     task dispatch (a workflow with one activity: 150 ms p50 with it, 13 ms
//     without).
//   - matching.numTaskqueueReadPartitions=1 and ...WritePartitions=1: one
//     partition per task queue, so that a poller always sees a new task at
//     once instead of it waiting in another partition (a dev server has no
//     load to spread).
//   - worker.schedulerNamespaceStartWorkflowRPS=10000: by default schedules
//     start at most 30 workflows per second per namespace, and every service
//     starts 1/report_interval + the rate of its periodic tasks (0.14/s for
//     a compute host at the defaults): from about 220 hosts on, reports and
//     tasks fall behind (300 simulated hosts: 55% late or skipped).
//   - frontend.namespaceCount=10000: by default a frontend takes at most 1200
//     concurrent long polls per API and namespace; each service holds 4
//     workflow-task polls (2 workers x 2 pollers), so about 300 services
//     filled it and their pollers got ResourceExhausted.
//   - frontend.WorkerHeartbeatsEnabled=true and frontend.ListWorkersEnabled=true:
//     the SDK's worker heartbeats (kept in the server's memory, no history),
//     from which a topic's status report reads which services are alive.
//     Without them a report asks each host with an activity, which costs
//     about one action per host per report.
//   - for a file: SQLite in WAL mode with synchronous=NORMAL; with the default
//     rollback journal and full syncs a file-backed server ran about 9x slower.
//     WAL with NORMAL stays consistent on a crash and may lose the last
//     transactions on power loss, which is fine for a development server.
//
// docs/BENCHMARKS.md has the measurements.
func TemporalServerArgs(fileBacked bool) []string {
	args := []string{
		"--dynamic-config-value", "history.transferProcessorMaxPollRPS=10000",
		"--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
		"--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
		"--dynamic-config-value", "worker.schedulerNamespaceStartWorkflowRPS=10000",
		"--dynamic-config-value", "frontend.namespaceCount=10000",
		"--dynamic-config-value", "frontend.WorkerHeartbeatsEnabled=true",
		"--dynamic-config-value", "frontend.ListWorkersEnabled=true",
	}
	if fileBacked {
		args = append(args,
			"--sqlite-pragma", "journal_mode=WAL",
			"--sqlite-pragma", "synchronous=NORMAL",
		)
	}
	return args
}

// TemporalOptions configures StartTemporal.
type TemporalOptions struct {
	// CLIPath is the temporal binary; empty means TemporalCLI(ctx, Progress).
	CLIPath string
	// Progress receives progress lines if the CLI must be built first.
	Progress io.Writer
	// HostPort is the frontend's gRPC address; default a free port on 127.0.0.1.
	HostPort string
	// EnableUI serves the Web UI.
	EnableUI bool
	// UIPort is the Web UI's port; 0 means the CLI's default, the gRPC port
	// + 1000.
	UIPort int
	// DBFilename is the SQLite file that keeps the server's state; empty means
	// in memory, lost when the server stops.
	DBFilename string
	// Namespace is created at start and used by Client; default "default".
	Namespace string
	// SearchAttributes are registered at start; when empty, novaflow's
	// (workflows.SearchAttributes).
	SearchAttributes temporal.SearchAttributes
	// LogLevel is the server's: debug, info, warn (default), error or never.
	LogLevel string
	// Stdout and Stderr receive the server's output; nil discards it (the end
	// of stderr still shows in start errors).
	Stdout, Stderr io.Writer
	// Logger is the logger of Client; nil logs warnings and errors to Stderr,
	// or to the process's stderr when Stderr is nil.
	Logger log.Logger
}

// Temporal is a running Temporal dev server started by StartTemporal.
type Temporal struct {
	address   string
	namespace string
	proc      *process
	client    client.Client
	ui        *TemporalUI // the Web UI server of StartTemporalSQL's UIHostPort
	stopOnce  sync.Once
	stopErr   error
}

// StartTemporal starts `temporal server start-dev` with opts and with
// TemporalServerArgs, and waits until it serves the namespace.
//
// It does what go.temporal.io/sdk/testsuite.StartDevServer (with ExistingPath)
// does, with the same flags, but starts the process itself: StartDevServer
// (SDK v1.51.0) sets no parent-death signal, does not expose the process (so
// it cannot be killed when the wait for readiness fails or the context ends,
// and leaks), and keeps dialing for a minute when the server has already
// exited. Here the server gets SIGINT if the calling process dies (Linux), a
// failed start kills it and reports the end of its stderr. Call Stop.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	cli := opts.CLIPath
	if cli == "" {
		var err error
		if cli, err = TemporalCLI(ctx, opts.Progress); err != nil {
			return nil, err
		}
	}
	if opts.HostPort == "" {
		port, err := FreePort("127.0.0.1")
		if err != nil {
			return nil, err
		}
		opts.HostPort = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.SearchAttributes.Size() == 0 {
		opts.SearchAttributes = workflows.SearchAttributes()
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	if opts.Logger == nil {
		w := opts.Stderr
		if w == nil {
			w = os.Stderr
		}
		opts.Logger = log.NewStructuredLogger(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	args, err := temporalCommand(opts)
	if err != nil {
		return nil, err
	}

	tail := newTailBuffer(16 << 10)
	cmd := exec.Command(cli, args...)
	cmd.Env = serverEnv()
	cmd.Stdout = orDiscard(opts.Stdout)
	cmd.Stderr = io.MultiWriter(orDiscard(opts.Stderr), tail)
	proc, err := startProcess("temporal dev server", cmd, nil)
	if err != nil {
		return nil, err
	}
	c, err := waitTemporalReady(ctx, proc, opts, tail)
	if err != nil {
		_ = proc.stop()
		return nil, err
	}
	return &Temporal{address: opts.HostPort, namespace: opts.Namespace, proc: proc, client: c}, nil
}

// Address returns the frontend's gRPC host:port.
func (t *Temporal) Address() string { return t.address }

// Namespace returns the namespace the server was started with.
func (t *Temporal) Namespace() string { return t.namespace }

// Client returns a client of the namespace, closed by Stop.
func (t *Temporal) Client() client.Client { return t.client }

// UIURL is the address of the Web UI that StartTemporalSQL started for the
// server (TemporalSQLOptions.UIHostPort); "" when it started none (the dev
// server's UI is the CLI's own, at the TemporalOptions.UIPort).
func (t *Temporal) UIURL() string {
	if t.ui == nil {
		return ""
	}
	return t.ui.URL()
}

// Stop closes the client, stops the Web UI server if any and the server
// with SIGINT and waits for them to exit. Later calls return the first
// call's result.
func (t *Temporal) Stop() error {
	t.stopOnce.Do(func() {
		t.client.Close()
		if t.ui != nil {
			_ = t.ui.Stop()
		}
		t.stopErr = t.proc.stop()
	})
	return t.stopErr
}

// Kill closes the client and kills the server at once, without the wait of
// Stop: for a server that no longer answers, which would not exit on SIGINT
// either. Later calls, and those of Stop, return the first call's result.
func (t *Temporal) Kill() error {
	t.stopOnce.Do(func() {
		t.client.Close()
		if t.ui != nil {
			_ = t.ui.proc.kill()
		}
		t.stopErr = t.proc.kill()
	})
	return t.stopErr
}

// temporalCommand returns the CLI arguments for opts, the same as the SDK's
// testsuite would give plus TemporalServerArgs.
func temporalCommand(opts TemporalOptions) ([]string, error) {
	host, port, err := net.SplitHostPort(opts.HostPort)
	if err != nil {
		return nil, fmt.Errorf("parsing Temporal HostPort %q: %w", opts.HostPort, err)
	}
	args := []string{
		"server", "start-dev",
		"--ip", host, "--port", port,
		"--namespace", opts.Namespace,
		"--log-level", opts.LogLevel,
		// No call home to check for a newer server version.
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
	}
	if opts.EnableUI {
		if opts.UIPort != 0 {
			args = append(args, "--ui-port", strconv.Itoa(opts.UIPort))
		}
	} else {
		args = append(args, "--headless")
	}
	if opts.DBFilename != "" {
		args = append(args, "--db-filename", opts.DBFilename)
	}
	var attrs []string
	for key := range opts.SearchAttributes.GetUntypedValues() {
		attrs = append(attrs, key.GetName()+"="+key.GetValueType().String())
	}
	slices.Sort(attrs)
	for _, a := range attrs {
		args = append(args, "--search-attribute", a)
	}
	return append(args, TemporalServerArgs(opts.DBFilename != "")...), nil
}

// waitTemporalReady dials the server until it answers for the namespace,
// and returns the connected client.
func waitTemporalReady(ctx context.Context, proc *process, opts TemporalOptions, tail *tailBuffer) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, temporalReadyTimeout)
	defer cancel()
	clientOpts := client.Options{HostPort: opts.HostPort, Namespace: opts.Namespace, Logger: opts.Logger}
	for {
		c, err := dialNamespace(ctx, clientOpts)
		if err == nil {
			return c, nil
		}
		if done, exitErr := proc.exited(); done {
			return nil, fmt.Errorf("starting the Temporal dev server on %s: it exited: %v%s", opts.HostPort, exitErr, logTail("its stderr", tail))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the Temporal dev server on %s: %w (last error: %v)%s", opts.HostPort, ctx.Err(), err, logTail("its stderr", tail))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dialNamespace connects a client and checks that the namespace exists.
func dialNamespace(ctx context.Context, opts client.Options) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	req := &workflowservice.DescribeNamespaceRequest{Namespace: opts.Namespace}
	if _, err := c.WorkflowService().DescribeNamespace(ctx, req); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// orDiscard returns w, or io.Discard when w is nil.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
