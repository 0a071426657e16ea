package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/worker"
)

// devOptions are the dev stack's ports and folder.
type devOptions struct {
	dir          string
	temporal     string
	fakeHosts    int
	temporalPort int
	uiPort       int
	postgresPort int
	// auth turns authorization on, with the local issuer's tokens.
	auth bool
	// healthAddress is NOVAFLOW_HEALTH_ADDRESS when that is unset: where
	// /healthz, /readyz and /metrics are served ("" for nowhere).
	healthAddress string
}

func newDevCmd() *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use: "dev",
		Example: `  novaflow dev
  novaflow dev --fake-hosts 100
  novaflow dev --temporal-port 7243 --ui-port 8243 --postgres-port 55433`,
		Short: "Run the whole system on this machine: Temporal with its Web UI, PostgreSQL and every service",
		Long: `Run the whole system on this machine, with no other set-up:
  - the Temporal dev server of the pinned CLI on 127.0.0.1:7233, its Web UI on
    http://127.0.0.1:8233, its data in .novaflow/temporal.db;
  - a PostgreSQL cluster in .novaflow/postgres on port 55432 (unless
    NOVAFLOW_DATABASE_URL or DATABASE_URL names a server);
  - one service of every registered topic on this host; compute runs real
    processes (the process driver, unless NOVAFLOW_COMPUTE_DRIVER says
    otherwise; off Linux the fake driver), and --fake-hosts N adds N
    simulated compute hosts; their state is in .novaflow too;
  - their /healthz, /readyz and /metrics (Prometheus) on 127.0.0.1:9464, and
    traces and metrics over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
With a Temporal address given (--address, NOVAFLOW_TEMPORAL_ADDRESS,
TEMPORAL_ADDRESS or a temporal CLI profile named with --profile,
TEMPORAL_PROFILE, --config-file or TEMPORAL_CONFIG_FILE), it uses that
Temporal instead of starting one, and registers novaflow's search attributes
there, as novaflow temporal setup does. The default profile of the temporal
CLI's default file (often a production or Temporal Cloud namespace) is not
used unless named: --profile default.
Every port is checked before anything starts; a taken one is named, with the
flag that moves it.
The first run builds the pinned Temporal CLI, which takes a few minutes; later
runs start in seconds and reuse the data. Ctrl-C stops everything cleanly, in
seconds: the services, then Temporal, then PostgreSQL.
While it runs, novaflow commands in this folder find it with no settings.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDev(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", stackDir, "folder that keeps the dev stack's data")
	cmd.Flags().StringVar(&o.temporal, "temporal", temporalDev, "which Temporal to run: dev (the CLI's dev server on SQLite, with the Web UI) or postgres (the pinned Temporal server on the dev PostgreSQL, production-like, with the Web UI server the CLI embeds)")
	cmd.Flags().StringVar(&o.healthAddress, "health-address", "127.0.0.1:9464", "address of /healthz, /readyz and /metrics (Prometheus) unless NOVAFLOW_HEALTH_ADDRESS is set")
	cmd.Flags().IntVar(&o.fakeHosts, "fake-hosts", 0, "also run this many simulated compute hosts (fake driver) in this process")
	cmd.Flags().IntVar(&o.temporalPort, "temporal-port", 7233, "port of the Temporal frontend")
	cmd.Flags().IntVar(&o.uiPort, "ui-port", 8233, "port of the Temporal Web UI")
	cmd.Flags().IntVar(&o.postgresPort, "postgres-port", 55432, "port of the dev PostgreSQL (not the system's 5432)")
	cmd.Flags().BoolVar(&o.auth, "auth", false, "turn authorization on (NOVAFLOW_AUTH): tokens of a local issuer whose key is kept in the data folder; prints an admin's token for the shell (novaflow auth token makes others); and the payload codec (a key ring in the data folder, served as novaflow codec-server does)")
	return cmd
}

func runDev(ctx context.Context, o devOptions, out io.Writer) (retErr error) {
	if st, dir, ok := findStack(); ok {
		return fmt.Errorf("a dev stack already runs in %s (pid %d)", filepath.Join(dir, stackDir), st.PID)
	}
	// The settings as given, before the stack's own addresses: whether
	// Temporal or PostgreSQL are the user's, where health is served.
	given, givenCfg, err := processEnv{}.settings()
	if err != nil {
		return err
	}
	// A Temporal address given on purpose (--address, NOVAFLOW_TEMPORAL_ADDRESS,
	// TEMPORAL_ADDRESS, a profile named or a file given) is a Temporal of the
	// user's; the default profile of the default file is not.
	externalTemporal, ignored := devTemporalGiven(given, givenCfg)
	if ignored != "" {
		fmt.Fprintln(out, ignored)
	}
	// NOVAFLOW_DATABASE_URL (or its _FILE, or DATABASE_URL), from the
	// environment or NOVAFLOW_CONFIG_FILE, as a service reads it.
	databaseURL := givenCfg.DatabaseURL
	// Every port the stack will listen on is free before anything starts.
	if err := checkDevPorts(devPorts(o, given, externalTemporal, databaseURL != "")); err != nil {
		return err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", o.dir, err)
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, "novaflow dev: "+format+"\n", args...) }

	// Until the services run (worker.Run then serves the signals), SIGINT
	// and SIGTERM end the start: what has started stops, in order. The
	// children, in process groups of their own, get no terminal signals.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	startCtx, cancelStart := context.WithCancel(ctx)
	defer cancelStart()
	handOff, watcherDone := make(chan struct{}), make(chan struct{})
	// interrupted holds the signal that ended the start, if one did.
	var interrupted atomic.Pointer[worker.InterruptedError]
	defer func() {
		if ie := interrupted.Load(); ie != nil && retErr != nil {
			retErr = ie
		}
	}()
	go func() {
		defer close(watcherDone)
		for {
			select {
			case sig := <-sigs:
				if sig != syscall.SIGHUP {
					say("%s while starting: stopping what has started", sig)
					interrupted.Store(&worker.InterruptedError{Signal: sig})
					cancelStart()
					return
				}
			case <-handOff:
				return
			}
		}
	}()
	var handOffOnce sync.Once
	endWatch := func() { handOffOnce.Do(func() { close(handOff) }) }
	defer endWatch() // an early error return ends the watcher too
	stopWatching := func() error {
		endWatch()
		<-watcherDone
		if ie := interrupted.Load(); ie != nil {
			return ie
		}
		return nil
	}
	ctx = startCtx

	if databaseURL == "" {
		dataDir, err := postgresDataDir(dir, say)
		if err != nil {
			return err
		}
		say("starting PostgreSQL in %s on port %d", dataDir, o.postgresPort)
		pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: dataDir, Port: o.postgresPort, Durable: true})
		if err != nil {
			return fmt.Errorf("start PostgreSQL (--postgres-port %d): %w", o.postgresPort, err)
		}
		defer func() {
			say("stopping PostgreSQL")
			_ = pg.Stop()
		}()
		databaseURL = pg.URL()
	}

	// The services read their settings like any other: the stack's
	// addresses over the process's environment, some unset ones given dev
	// values, NOVAFLOW_CONFIG_FILE over all (at start and on SIGHUP).
	penv := processEnv{extra: []string{"NOVAFLOW_DATABASE_URL=" + databaseURL}}
	userToken := ""
	if o.auth {
		authEnv, tok, err := devAuth(dir)
		if err != nil {
			return err
		}
		penv.extra, userToken = append(penv.extra, authEnv...), tok
	}
	temporalAddress, temporalNamespace, temporalUI := givenCfg.TemporalAddress, givenCfg.TemporalNamespace, ""
	// stopTemporal stops the stack's own Temporal; gone says it no longer
	// answers, so that it is killed rather than waited for.
	stopTemporal := func(gone bool) {}
	if externalTemporal {
		// A Temporal of the user's, on purpose: it gets what `novaflow
		// temporal setup` gives any (namespace, search attributes).
		say("using the Temporal server at %s (%s), namespace %s, rather than one of its own", temporalAddress, givenCfg.TemporalAddressSource(), temporalNamespace)
		c, err := worker.DialServer(ctx, givenCfg, discardLogger())
		if err != nil {
			return err
		}
		err = setupDevTemporal(ctx, c, temporalNamespace, say)
		c.Close()
		if err != nil {
			return err
		}
	} else {
		tmp, err := startDevTemporal(ctx, o, dir, databaseURL, gateSettings(o, penv.extra), out, say)
		if err != nil {
			return err
		}
		stopTemporal = func(gone bool) {
			if gone {
				say("killing Temporal")
				_ = tmp.Kill()
				return
			}
			say("stopping Temporal")
			_ = tmp.Stop()
		}
		// The server registered the namespace and search attributes at
		// start; this checks them and its settings.
		if err := setupDevTemporal(ctx, tmp.Client(), tmp.Namespace(), say); err != nil {
			stopTemporal(false)
			return err
		}
		temporalAddress, temporalNamespace, temporalUI = tmp.Address(), tmp.Namespace(), devTemporalUI(o)
		penv.ownTemporal = true
		penv.extra = append(penv.extra,
			"NOVAFLOW_TEMPORAL_ADDRESS="+temporalAddress,
			"NOVAFLOW_TEMPORAL_NAMESPACE="+temporalNamespace,
		)
	}
	var temporalGone atomic.Bool
	defer func() { stopTemporal(temporalGone.Load()) }()
	if _, set := os.LookupEnv("NOVAFLOW_HEALTH_ADDRESS"); !set && o.healthAddress != "" {
		penv.extra = append(penv.extra, "NOVAFLOW_HEALTH_ADDRESS="+o.healthAddress)
	}
	// Temporal is on loopback: gzip would only cost CPU and latency.
	if _, set := os.LookupEnv("NOVAFLOW_TEMPORAL_GRPC_COMPRESSION"); !set {
		penv.extra = append(penv.extra, "NOVAFLOW_TEMPORAL_GRPC_COMPRESSION=none")
	}
	env, cfg, err := penv.settings()
	if err != nil {
		return err
	}
	pc, _ := cfg.PayloadCodec(nil)
	if pc != nil {
		say("payloads are encrypted with key %s of NOVAFLOW_PAYLOAD_KEYS_FILE: the Web UI shows ciphertext; `novaflow codec-server` and temporal's --codec-endpoint read them", pc.CurrentKey())
	}
	if cfg.Auth {
		say("authorization is on: calls need a token of issuer %s (policy: %s); in your shell:", cfg.AuthIssuer, orDefault(cfg.AuthPolicyFile, "the defaults"))
		if userToken != "" {
			fmt.Fprintf(out, "  export NOVAFLOW_TOKEN=%s\n", userToken)
			if pc != nil {
				// The shell's commands read the services' encrypted results.
				fmt.Fprintf(out, "  export NOVAFLOW_PAYLOAD_KEYS_FILE=%s\n", cfg.PayloadKeysFile)
			}
			cliFlag := `--memo "NovaflowToken=\"$NOVAFLOW_TOKEN\""`
			if o.temporal == temporalPostgres {
				// novaflow's server: its gate takes the CLI's own flag.
				cliFlag = `--api-key "$NOVAFLOW_TOKEN" --tls=false`
			}
			say("(an admin of project %s for %s; novaflow auth token --user U --project P --role member makes others; the temporal CLI takes it as %s)", devProject, devUserTTL, cliFlag)
		}
	} else {
		say("authorization is off: any caller that reaches the namespace may call every method (novaflow dev --auth turns it on)")
	}
	if _, set := env.Lookup("NOVAFLOW_COMPUTE_DRIVER"); !set && devComputeDriver() != "process" {
		say("the process compute driver runs on Linux only: compute on this %s machine runs the fake driver (simulated instances); NOVAFLOW_COMPUTE_DRIVER chooses another", runtime.GOOS)
	}
	st := stackFile{
		PID: os.Getpid(), TemporalAddress: temporalAddress, TemporalNamespace: temporalNamespace,
		TemporalUI: temporalUI, DatabaseURL: databaseURL,
	}
	if cfg.Auth {
		st.Auth, st.AuthJWKS, st.AuthIssuer, st.AuthAudience = true, absPath(cfg.AuthJWKS), cfg.AuthIssuer, cfg.AuthAudience
	}
	if pc != nil {
		st.PayloadKeysFile = absPath(cfg.PayloadKeysFile)
	}
	if err := writeStack(filepath.Dir(dir), st); err != nil {
		return err
	}
	defer os.Remove(stackPath(filepath.Dir(dir)))

	level := new(slog.LevelVar)
	logger := worker.NewLogger(logFile(filepath.Join(dir, "services.log")), cfg, level)
	// The process's own lines (telemetry, the shared client's) name the host.
	procLogger := logger.With("host", cfg.Host)
	if o.auth && pc != nil {
		// Serve the codec for the shell's temporal CLI and the Web UI, to
		// the admin tokens of the local issuer (rule codec:decode).
		addr, stop, err := startDevCodecServer(ctx, cfg, procLogger.With("component", "codec-server"))
		if err != nil {
			return err
		}
		defer stop()
		say("codec server on http://%s (novaflow codec-server): temporal workflow show -w ID --codec-endpoint http://%s --codec-auth \"Bearer $NOVAFLOW_TOKEN\"; the Web UI takes it in its Data Encoder settings (it decodes only with a signed-in user's token)", addr, addr)
	}
	tel, stopTelemetry, err := startTelemetry(ctx, env, cfg, "novaflow", procLogger)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	// The services share a client with the telemetry interceptors, and one
	// database pool: simulated hosts would otherwise each open their own,
	// and a hundred of them exceed PostgreSQL's max_connections.
	tc, err := worker.Dial(ctx, cfg, procLogger)
	if err != nil {
		return err
	}
	var closeTC sync.Once
	defer closeTC.Do(tc.Close)
	pool, err := db.Open(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("NOVAFLOW_DATABASE_URL: %w", err)
	}
	defer pool.Close()
	services, err := devServices(cfg, o, dir, tc, pool, worker.Options{
		Logger: logger, LogLevel: level, Env: env, Reload: penv.load,
	})
	if err != nil {
		return err
	}
	if len(services) == 0 {
		return errors.New("no manager is registered: nothing to run")
	}
	if err := stopWatching(); err != nil {
		return err
	}
	say("starting %d services on host %s", len(services), cfg.Host)
	return worker.Run(ctx, worker.RunOptions{
		Logger:            logger,
		Health:            withMetrics(worker.NewHealth(services...), tel),
		HealthAddress:     cfg.HealthAddress,
		GracefulInterrupt: true,
		Signals:           sigs,
		Started:           func() { printBanner(out, st, cfg, services, dir) },
		// The services stop first, with Temporal and PostgreSQL still up;
		// a Temporal that does not answer is not waited for.
		Stopping: func() {
			say("stopping the services")
			if err := pingTemporal(tc); err != nil {
				say("Temporal at %s does not answer (%v): stopping without it", temporalAddress, err)
				temporalGone.Store(true)
				closeTC.Do(tc.Close)
			}
		},
	}, services...)
}

// pingTimeout bounds the check, at stop, that Temporal still answers.
const pingTimeout = 2 * time.Second

// pingTemporal checks that the server of c answers.
func pingTemporal(c client.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// setupDevTemporal gives the namespace of the stack's Temporal what `novaflow
// temporal setup` gives any (worker.SetupTemporal: namespace, search
// attributes, checks of the server's settings) and says what is off.
func setupDevTemporal(ctx context.Context, c client.Client, namespace string, say func(string, ...any)) error {
	setup, err := worker.SetupTemporal(ctx, c, worker.TemporalSetupOptions{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("set up Temporal: %w", err)
	}
	for _, c := range append(setup.Problems(), setup.Warnings()...) {
		say("Temporal: %s %s: %s", c.Result, c.Name, c.Detail)
	}
	if len(setup.Problems()) > 0 {
		return fmt.Errorf("the dev stack's Temporal is not ready for novaflow (above)")
	}
	return nil
}

// devPort is an address the dev stack will listen on, what listens there and
// how to choose another.
type devPort struct {
	what, address, flag string
	// temporalAddress, for Temporal's ports, is the frontend's address,
	// whose server the user may mean to use (NOVAFLOW_TEMPORAL_ADDRESS).
	temporalAddress string
}

// devPorts are the addresses the stack will listen on: Temporal's frontend
// and Web UI unless NOVAFLOW_TEMPORAL_ADDRESS names a server, PostgreSQL
// unless a database URL is given, health and metrics unless disabled.
// Temporal's other ports (HTTP API, metrics, on PostgreSQL its services')
// are chosen free by the stack itself.
func devPorts(o devOptions, env worker.Env, externalTemporal, externalDatabase bool) []devPort {
	var ports []devPort
	if !externalTemporal {
		frontend := fmt.Sprintf("127.0.0.1:%d", o.temporalPort)
		ports = append(ports, devPort{"the Temporal frontend", frontend, "--temporal-port", frontend})
		ports = append(ports, devPort{"the Temporal Web UI", fmt.Sprintf("127.0.0.1:%d", o.uiPort), "--ui-port", frontend})
	}
	if !externalDatabase {
		ports = append(ports, devPort{"PostgreSQL", fmt.Sprintf("127.0.0.1:%d", o.postgresPort), "--postgres-port", ""})
	}
	if v, set := env.Lookup("NOVAFLOW_HEALTH_ADDRESS"); set {
		if v != "" {
			ports = append(ports, devPort{"health and metrics", v, "NOVAFLOW_HEALTH_ADDRESS", ""})
		}
	} else if o.healthAddress != "" {
		ports = append(ports, devPort{"health and metrics", o.healthAddress, "--health-address", ""})
	}
	return ports
}

// checkDevPorts listens on each port for a moment, and says which is taken
// and what to do.
func checkDevPorts(ports []devPort) error {
	for _, p := range ports {
		l, err := net.Listen("tcp", p.address)
		if err == nil {
			l.Close()
			continue
		}
		what := "cannot be listened on (" + err.Error() + ")"
		if errors.Is(err, syscall.EADDRINUSE) {
			what = "is taken"
		}
		_, port, _ := net.SplitHostPort(p.address)
		how := "choose another with " + p.flag
		if p.flag == "NOVAFLOW_HEALTH_ADDRESS" {
			how = "set another " + p.flag + " (empty for none)"
		} else if p.flag == "--health-address" {
			how = "choose another with --health-address (--health-address= for none)"
		}
		msg := fmt.Sprintf("port %s (%s, %s) %s: stop the process that holds it, or %s", port, p.what, p.address, what, how)
		if p.temporalAddress != "" {
			msg += ", or, to use a Temporal server that runs there on purpose, pass --address " + p.temporalAddress
		}
		return errors.New(msg)
	}
	return nil
}

// devServices is one service of every registered topic on this host, the
// compute one with the process driver (devComputeDriver) unless
// NOVAFLOW_COMPUTE_DRIVER is set,
// plus o.fakeHosts simulated compute hosts with the fake driver. opts holds
// what every service shares: logger, log level and environment.
func devServices(cfg worker.Config, o devOptions, dir string, c client.Client, pool *pgxpool.Pool, opts worker.Options) ([]*worker.Service, error) {
	var services []*worker.Service
	env := opts.Env
	add := func(cfg worker.Config, topic string, managerConfig any) error {
		svcOpts := opts
		svcOpts.Topic, svcOpts.Temporal, svcOpts.DB, svcOpts.ManagerConfig, svcOpts.OneReconcilePerProcess = topic, c, pool, managerConfig, true
		// State beside the rest of the dev stack's data, not in the temp
		// dir where cleaners may remove it, nor in /var/lib.
		svcOpts.StateDir = filepath.Join(dir, topic+"-"+cfg.Host)
		svc, err := worker.Create(cfg, svcOpts)
		if err != nil {
			return err
		}
		services = append(services, svc)
		return nil
	}
	computeSettings := func(driver, host string) (*computemgr.Settings, error) {
		s := &computemgr.Settings{}
		if err := env.Decode(s); err != nil {
			return nil, err
		}
		if _, set := env.Lookup("NOVAFLOW_COMPUTE_DRIVER"); !set || driver == "fake" {
			s.Driver = driver
		}
		// On a developer's machine, `"command": ["sleep", "3600"]` should
		// just work; production hosts keep the default (absolute paths only).
		if _, set := env.Lookup("NOVAFLOW_COMPUTE_ALLOW_RELATIVE_COMMANDS"); !set {
			s.AllowRelativeCommands = true
		}
		return s, nil
	}
	for _, topic := range managers.Topics() {
		var managerConfig any
		switch topic {
		case computemgr.Topic:
			s, err := computeSettings(devComputeDriver(), cfg.Host)
			if err != nil {
				return nil, err
			}
			managerConfig = s
		}
		if err := add(cfg, topic, managerConfig); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= o.fakeHosts; i++ {
		hostCfg := cfg
		hostCfg.Host = fmt.Sprintf("fake-%d", i)
		s, err := computeSettings("fake", hostCfg.Host)
		if err != nil {
			return nil, err
		}
		if err := add(hostCfg, computemgr.Topic, s); err != nil {
			return nil, err
		}
	}
	return services, nil
}

// devComputeDriver is the driver of the dev stack's own compute host when
// NOVAFLOW_COMPUTE_DRIVER is unset: process (real processes), which runs on
// Linux only; fake (simulated instances) elsewhere.
func devComputeDriver() string {
	if runtime.GOOS == "linux" {
		return "process"
	}
	return "fake"
}

// postgresDataDir is <dir>/postgres, or, when PostgreSQL (run as the postgres
// user because we are root) cannot reach it, a folder in the system temp dir
// linked from there.
func postgresDataDir(dir string, say func(string, ...any)) (string, error) {
	want := filepath.Join(dir, "postgres")
	if devstack.CheckPostgresDataDir(want) == nil {
		if fi, err := os.Lstat(want); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return want, nil
		}
	}
	sum := sha256.Sum256([]byte(dir))
	alt := filepath.Join(os.TempDir(), "novaflow-dev-"+hex.EncodeToString(sum[:6]), "postgres")
	if err := os.MkdirAll(filepath.Dir(alt), 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(alt), err)
	}
	if target, err := os.Readlink(want); err != nil || target != alt {
		_ = os.Remove(want)
		if err := os.Symlink(alt, want); err != nil {
			return "", fmt.Errorf("link %s to %s: %w", want, alt, err)
		}
	}
	say("PostgreSQL runs as user postgres, which cannot enter %s: its data is in %s (linked from there)", dir, alt)
	return alt, nil
}

// logFile opens path for appending, or discards when it cannot.
func logFile(path string) io.Writer {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return io.Discard
	}
	return f
}

func printBanner(out io.Writer, st stackFile, cfg worker.Config, services []*worker.Service, dir string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nnovaflow dev is running (%s)\n", time.Now().Format(time.Kitchen))
	fmt.Fprintf(&b, "  Temporal      %s  (namespace %s)\n", st.TemporalAddress, st.TemporalNamespace)
	fmt.Fprintf(&b, "  Web UI        %s\n", st.TemporalUI)
	fmt.Fprintf(&b, "  PostgreSQL    %s\n", db.Redact(st.DatabaseURL))
	if cfg.HealthAddress != "" {
		fmt.Fprintf(&b, "  metrics       http://%s/metrics  (health: /healthz, /readyz)\n", cfg.HealthAddress)
	}
	for _, s := range services {
		fmt.Fprintf(&b, "  service       %-20s host %s, task queues %s and %s\n", s.Binary(), s.Host(), s.Topic(), s.HostQueue())
	}
	fmt.Fprintf(&b, "  logs          %s\n", filepath.Join(dir, "services.log"))
	b.WriteString(`
Try, in another terminal in this folder:
  go run ./cmd/novaflow service list
  NOVAFLOW_HOST=node2 NOVAFLOW_COMPUTE_DRIVER=fake go run ./cmd/novaflow run compute   # a second compute host
  temporal workflow list --query 'NovaflowHost="` + cfg.Host + `"'
  temporal schedule list
(temporal is the pinned CLI: cd tools/temporal && go tool temporal ...)
Ctrl-C stops everything.
`)
	fmt.Fprint(out, b.String())
}

// orDefault is s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// startDevCodecServer serves the payload codec of cfg (as novaflow
// codec-server does) on NOVAFLOW_CODEC_SERVER_ADDRESS, or on a free port of
// 127.0.0.1 when that one is taken. stop closes it.
func startDevCodecServer(ctx context.Context, cfg worker.Config, logger *slog.Logger) (addr string, stop func(), err error) {
	h, err := codecHandler(ctx, cfg, logger)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", cfg.CodecServerAddress)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return "", nil, fmt.Errorf("codec server: %w", err)
		}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// devTemporalGiven reports whether novaflow dev is to use a Temporal of the
// user's: an address given on purpose, by a flag, a novaflow setting,
// TEMPORAL_ADDRESS, or a profile named (or a file given). An address that
// only the default profile of the temporal CLI's default file gives is not
// used (that profile often names a production or Temporal Cloud namespace,
// where a dev stack does not belong); ignored then says so in one line.
func devTemporalGiven(given worker.Env, cfg worker.Config) (external bool, ignored string) {
	if !cfg.TemporalAddressGiven(given) {
		return false, ""
	}
	if given.Get("NOVAFLOW_TEMPORAL_ADDRESS") != "" || given.Get("TEMPORAL_ADDRESS") != "" ||
		given.Get("TEMPORAL_PROFILE") != "" || given.Get("TEMPORAL_CONFIG_FILE") != "" ||
		cfg.TemporalAddressSource() == "NOVAFLOW_TEMPORAL_ADDRESS" {
		return true, ""
	}
	return false, fmt.Sprintf("novaflow dev: starting a Temporal of its own; the %s (%s) is not used: --profile default uses it",
		cfg.TemporalAddressSource(), cfg.TemporalAddress)
}

// absPath is p made absolute (a command beside the stack may run in a
// folder below it), or p when that fails.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
