package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/novaflow/novaflow/workflows"
)

// TemporalServerVersion is the version of the Temporal server pinned in
// tools/temporal-server: the server the pinned CLI bundles.
const TemporalServerVersion = "v1.29.1"

// temporalSQLReadyTimeout bounds the wait for a started server to serve its
// namespace.
const temporalSQLReadyTimeout = 2 * time.Minute

// TemporalDynamicConfig is the dynamic config the Temporal server on
// PostgreSQL gets (StartTemporalSQL): the values TemporalServerArgs gives the
// dev server (they only take effect at server start), plus
//   - frontend.enableServerVersionCheck=false: no call home;
//   - frontend.WorkerHeartbeatsEnabled and frontend.ListWorkersEnabled: the
//     worker heartbeats that status reports read (as TemporalServerArgs);
//   - system.forceSearchAttributesCacheRefreshOnRead=true: search attributes
//     added at start are usable at once (a development setting: it reads the
//     database on every use).
func TemporalDynamicConfig() map[string]any {
	return map[string]any{
		"history.transferProcessorMaxPollRPS":            10000,
		"matching.numTaskqueueReadPartitions":            1,
		"matching.numTaskqueueWritePartitions":           1,
		"worker.schedulerNamespaceStartWorkflowRPS":      10000,
		"frontend.namespaceCount":                        10000,
		"frontend.WorkerHeartbeatsEnabled":               true,
		"frontend.ListWorkersEnabled":                    true,
		"frontend.enableServerVersionCheck":              false,
		"system.forceSearchAttributesCacheRefreshOnRead": true,
	}
}

// TemporalSQLOptions configures StartTemporalSQL.
type TemporalSQLOptions struct {
	// PostgresURL is a PostgreSQL server whose user may create databases,
	// e.g. Postgres.URL(); its database part is not used (required).
	PostgresURL string
	// Dir keeps the server's configuration files (required).
	Dir string
	// DatabasePrefix names the two databases: <prefix> (the persistence
	// store) and <prefix>_visibility; default "temporal".
	DatabasePrefix string
	// HistoryShards is the number of history shards, fixed when the
	// databases are created; default 4.
	HistoryShards int
	// HostPort is the frontend's gRPC address; default a free port on
	// 127.0.0.1. The server's other ports are free ports on the same host.
	HostPort string
	// Namespace is registered at start (retention 3 days) and used by
	// Client; default "default".
	Namespace string
	// SearchAttributes are registered at start; when empty, novaflow's
	// (workflows.SearchAttributes).
	SearchAttributes temporal.SearchAttributes
	// LogLevel is the server's: debug, info, warn (default) or error.
	LogLevel string
	// UIHostPort, when set, is where Temporal's Web UI is served for the
	// server (StartTemporalUI: the UI server the CLI embeds in its dev
	// server), e.g. 127.0.0.1:8233; empty: no UI.
	UIHostPort string
	// Progress receives progress lines while the server is built.
	Progress io.Writer
	// Env are NOVAFLOW_* settings of the server (KEY=VALUE): with
	// NOVAFLOW_AUTH and its _JWKS, _ISSUER... and NOVAFLOW_PAYLOAD_KEYS_FILE,
	// novaflow's gate is on (tools/temporal-server/gate). The server takes
	// no other NOVAFLOW_* variable of this process's environment, so that
	// without Env it is the stock server.
	Env []string
	// Stdout and Stderr receive the server's output; nil discards it (the
	// end of it still shows in start errors).
	Stdout, Stderr io.Writer
	// Logger is the logger of Client; nil logs warnings and errors to Stderr,
	// or to the process's stderr when Stderr is nil.
	Logger log.Logger
}

// TemporalServerTools are the binaries and schema of the pinned Temporal
// server.
type TemporalServerTools struct {
	Server    string // novaflow-temporal-server: go.temporal.io/server/cmd/server with novaflow's gate
	SQLTool   string // go.temporal.io/server/cmd/tools/sql (temporal-sql-tool)
	SchemaDir string // the module's schema/postgresql/v12
}

// BuildTemporalServer builds the Temporal server and its SQL schema tool
// pinned in tools/temporal-server (`go tool -n`, cached by the Go build cache
// after the first time, which takes a few minutes) and finds the PostgreSQL
// schemas in the server module.
func BuildTemporalServer(ctx context.Context, progress io.Writer) (TemporalServerTools, error) {
	if progress == nil {
		progress = io.Discard
	}
	root := findModuleRoot()
	if root == "" {
		return TemporalServerTools{}, fmt.Errorf("no %s checkout found above the working directory: the Temporal server is built from its tools/temporal-server module", modulePath)
	}
	dir := filepath.Join(root, "tools", "temporal-server")
	start := time.Now()
	var tools TemporalServerTools
	var err error
	if tools.Server, err = goTool(ctx, dir, progress, "tool", "-n", "novaflow-temporal-server"); err != nil {
		return TemporalServerTools{}, err
	}
	if tools.SQLTool, err = goTool(ctx, dir, progress, "tool", "-n", "sql"); err != nil {
		return TemporalServerTools{}, err
	}
	mod, err := goTool(ctx, dir, progress, "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/server")
	if err != nil {
		return TemporalServerTools{}, err
	}
	tools.SchemaDir = filepath.Join(mod, "schema", "postgresql", "v12")
	for _, p := range []string{tools.Server, tools.SQLTool, filepath.Join(tools.SchemaDir, "temporal", "versioned"), filepath.Join(tools.SchemaDir, "visibility", "versioned")} {
		if _, err := os.Stat(p); err != nil {
			return TemporalServerTools{}, fmt.Errorf("the Temporal server %s in %s: %w", TemporalServerVersion, dir, err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		fmt.Fprintf(progress, "novaflow: built the Temporal server %s and its SQL tool in %s\n", TemporalServerVersion, d.Round(time.Second))
	}
	return tools, nil
}

// goTool runs the go command in dir, building the Temporal server, and
// returns its output's one line.
func goTool(ctx context.Context, dir string, progress io.Writer, args ...string) (string, error) {
	return goToolIn(ctx, dir, "the pinned Temporal server "+TemporalServerVersion+" (tools/temporal-server)", progress, args...)
}

// goToolIn runs the go command in dir, building what, and returns its
// output's one line; after 5 seconds it says what it builds on progress.
func goToolIn(ctx context.Context, dir, what string, progress io.Writer, args ...string) (string, error) {
	goBin, err := exec.LookPath(exe("go"))
	if err != nil {
		return "", fmt.Errorf("building %s: no go command on PATH: %w", what, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-time.After(5 * time.Second):
		}
		fmt.Fprintf(progress, "novaflow: building %s once (go %s); this takes a few minutes...\n", what, strings.Join(args, " "))
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Fprintf(progress, "novaflow: still building (%s elapsed)\n", time.Since(start).Round(time.Second))
			}
		}
	}()
	err = cmd.Run()
	close(done)
	if err != nil {
		return "", fmt.Errorf("go %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// StartTemporalSQL runs the pinned Temporal server (not the dev server) on
// PostgreSQL: it builds the server and its SQL tool if needed
// (BuildTemporalServer), creates or updates the schemas of its two databases
// with temporal-sql-tool, writes its configuration (Dir/config) with
// TemporalDynamicConfig, starts it, registers the namespace and the search
// attributes, and waits until the namespace serves; with UIHostPort, it then
// starts the Web UI for it (StartTemporalUI), which Stop stops too. The databases, and so
// every workflow and schedule, outlive the server: a later start on the same
// databases carries on. Call Stop.
func StartTemporalSQL(ctx context.Context, opts TemporalSQLOptions) (*Temporal, error) {
	if opts.PostgresURL == "" || opts.Dir == "" {
		return nil, errors.New("starting Temporal on PostgreSQL: TemporalSQLOptions.PostgresURL and Dir are required")
	}
	pg, err := parsePostgresURL(opts.PostgresURL)
	if err != nil {
		return nil, err
	}
	setTemporalSQLDefaults(&opts)
	tools, err := BuildTemporalServer(ctx, opts.Progress)
	if err != nil {
		return nil, err
	}
	if err := setupTemporalSchemas(ctx, tools, pg, opts.DatabasePrefix); err != nil {
		return nil, err
	}
	configDir := filepath.Join(opts.Dir, "config")
	if err := writeTemporalSQLConfig(configDir, pg, &opts); err != nil {
		return nil, err
	}

	tail := newTailBuffer(16 << 10)
	cmd := exec.Command(tools.Server, "--root", opts.Dir, "--config", "config", "--env", "development", "--allow-no-auth", "start")
	cmd.Env = append(withoutNovaflowSettings(serverEnv()), opts.Env...)
	cmd.Dir = opts.Dir
	cmd.Stdout = io.MultiWriter(orDiscard(opts.Stdout), tail)
	cmd.Stderr = io.MultiWriter(orDiscard(opts.Stderr), tail)
	proc, err := startProcess("temporal server", cmd, nil)
	if err != nil {
		return nil, err
	}
	c, err := waitTemporalSQLReady(ctx, proc, opts, tail)
	if err != nil {
		_ = proc.stop()
		return nil, err
	}
	t := &Temporal{address: opts.HostPort, namespace: opts.Namespace, proc: proc, client: c}
	if opts.UIHostPort != "" {
		ui, err := StartTemporalUI(ctx, TemporalUIOptions{
			Address: opts.HostPort, HostPort: opts.UIHostPort, Namespace: opts.Namespace,
			Progress: opts.Progress, Stdout: opts.Stdout, Stderr: opts.Stderr,
		})
		if err != nil {
			_ = t.Stop()
			return nil, err
		}
		t.ui = ui
	}
	return t, nil
}

// withoutNovaflowSettings is env without NOVAFLOW_* variables.
func withoutNovaflowSettings(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "NOVAFLOW_") {
			out = append(out, kv)
		}
	}
	return out
}

func setTemporalSQLDefaults(opts *TemporalSQLOptions) {
	if opts.DatabasePrefix == "" {
		opts.DatabasePrefix = "temporal"
	}
	if opts.HistoryShards == 0 {
		opts.HistoryShards = 4
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
}

// postgresServer is where Temporal's databases live.
type postgresServer struct {
	host, port, user, password string
	tls                        bool   // sslmode require or verify-*
	verifyHost                 bool   // sslmode verify-full
	rootCert                   string // sslrootcert
	url                        *url.URL
}

func parsePostgresURL(raw string) (postgresServer, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Hostname() == "" {
		return postgresServer{}, fmt.Errorf("starting Temporal on PostgreSQL: want a postgres://user@host:port/db URL")
	}
	pg := postgresServer{host: u.Hostname(), port: u.Port(), user: u.User.Username(), url: u}
	if pg.port == "" {
		pg.port = "5432"
	}
	pg.password, _ = u.User.Password()
	switch mode := u.Query().Get("sslmode"); mode {
	case "", "disable", "allow", "prefer":
	case "require", "verify-ca", "verify-full":
		pg.tls = true
		pg.verifyHost = mode == "verify-full"
		pg.rootCert = u.Query().Get("sslrootcert")
	default:
		return postgresServer{}, fmt.Errorf("starting Temporal on PostgreSQL: sslmode %q not understood", mode)
	}
	return pg, nil
}

// dbURL is the URL of database name on the server.
func (pg postgresServer) dbURL(name string) string {
	u := *pg.url
	u.Path = "/" + name
	return u.String()
}

// setupTemporalSchemas creates Temporal's two databases when missing, their
// schema version tables when missing, and brings their schemas up to the
// pinned server's version; run again, it changes nothing.
func setupTemporalSchemas(ctx context.Context, tools TemporalServerTools, pg postgresServer, prefix string) error {
	for _, s := range []struct{ db, schema string }{{prefix, "temporal"}, {prefix + "_visibility", "visibility"}} {
		args := []string{"--plugin", "postgres12", "--ep", pg.host, "--port", pg.port, "--user", pg.user, "--db", s.db}
		if pg.tls {
			args = append(args, "--tls")
			if pg.rootCert != "" {
				args = append(args, "--tls-ca-file", pg.rootCert)
			}
			if !pg.verifyHost {
				args = append(args, "--tls-disable-host-verification")
			}
		}
		exists, versioned, err := temporalDatabaseState(ctx, pg, s.db)
		if err != nil {
			return err
		}
		if !exists {
			if err := runSQLTool(ctx, tools, pg, append(args, "create-database")...); err != nil {
				return err
			}
		}
		if !versioned {
			if err := runSQLTool(ctx, tools, pg, append(args, "setup-schema", "--version", "0.0")...); err != nil {
				return err
			}
		}
		dir := filepath.Join(tools.SchemaDir, s.schema, "versioned")
		if err := runSQLTool(ctx, tools, pg, append(args, "update-schema", "--schema-dir", dir)...); err != nil {
			return err
		}
	}
	return nil
}

// temporalDatabaseState reports whether database db exists and whether it has
// temporal-sql-tool's schema_version table.
func temporalDatabaseState(ctx context.Context, pg postgresServer, db string) (exists, versioned bool, err error) {
	conn, err := pgx.Connect(ctx, pg.dbURL("postgres"))
	if err != nil {
		return false, false, fmt.Errorf("connecting to PostgreSQL for Temporal's databases: %w", err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil || !exists {
		return false, false, err
	}
	dconn, err := pgx.Connect(ctx, pg.dbURL(db))
	if err != nil {
		return true, false, fmt.Errorf("connecting to Temporal's database %s: %w", db, err)
	}
	defer dconn.Close(context.Background())
	err = dconn.QueryRow(ctx, "SELECT to_regclass('schema_version') IS NOT NULL").Scan(&versioned)
	return true, versioned, err
}

// runSQLTool runs temporal-sql-tool with args, the password in its
// environment rather than on its command line.
func runSQLTool(ctx context.Context, tools TemporalServerTools, pg postgresServer, args ...string) error {
	cmd := exec.CommandContext(ctx, tools.SQLTool, args...)
	cmd.Env = append(os.Environ(), "SQL_PASSWORD="+pg.password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("temporal-sql-tool %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// temporalSQLConfig is the part of the server's configuration file
// (go.temporal.io/server/common/config.Config) that StartTemporalSQL writes;
// JSON is YAML, so it is written as JSON.
type temporalSQLConfig struct {
	Log                 map[string]any            `json:"log"`
	Persistence         map[string]any            `json:"persistence"`
	Global              map[string]any            `json:"global"`
	Services            map[string]map[string]any `json:"services"`
	ClusterMetadata     map[string]any            `json:"clusterMetadata"`
	DCRedirectionPolicy map[string]any            `json:"dcRedirectionPolicy"`
	DynamicConfigClient map[string]any            `json:"dynamicConfigClient"`
}

// writeTemporalSQLConfig writes dir/development.yaml and
// dir/dynamicconfig.yaml, choosing free ports for the services.
func writeTemporalSQLConfig(dir string, pg postgresServer, opts *TemporalSQLOptions) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the Temporal config folder: %w", err)
	}
	if opts.HostPort == "" {
		port, err := FreePort("127.0.0.1")
		if err != nil {
			return err
		}
		opts.HostPort = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	host, frontendPort, err := net.SplitHostPort(opts.HostPort)
	if err != nil {
		return fmt.Errorf("parsing Temporal HostPort %q: %w", opts.HostPort, err)
	}
	ports, err := temporalSQLPorts(filepath.Join(dir, "ports.json"), host)
	if err != nil {
		return err
	}
	fport, err := strconv.Atoi(frontendPort)
	if err != nil {
		return fmt.Errorf("parsing Temporal HostPort %q: %w", opts.HostPort, err)
	}
	rpc := func(grpc, membership int, extra map[string]any) map[string]any {
		m := map[string]any{"grpcPort": grpc, "membershipPort": membership, "bindOnIP": host}
		for k, v := range extra {
			m[k] = v
		}
		return map[string]any{"rpc": m}
	}
	store := func(db string, conns int) map[string]any {
		sql := map[string]any{
			"pluginName": "postgres12", "databaseName": db, "connectAddr": net.JoinHostPort(pg.host, pg.port), "connectProtocol": "tcp",
			"user": pg.user, "password": pg.password, "maxConns": conns, "maxIdleConns": conns, "maxConnLifetime": "1h",
		}
		if pg.tls {
			t := map[string]any{"enabled": true, "enableHostVerification": pg.verifyHost, "serverName": pg.host}
			if pg.rootCert != "" {
				t["caFile"] = pg.rootCert
			}
			sql["tls"] = t
		}
		return map[string]any{"sql": sql}
	}
	dynamicPath := filepath.Join(dir, "dynamicconfig.yaml")
	cfg := temporalSQLConfig{
		Log: map[string]any{"stdout": true, "level": opts.LogLevel},
		Persistence: map[string]any{
			"defaultStore": "default", "visibilityStore": "visibility", "numHistoryShards": opts.HistoryShards,
			"datastores": map[string]any{
				"default":    store(opts.DatabasePrefix, 20),
				"visibility": store(opts.DatabasePrefix+"_visibility", 10),
			},
		},
		Global: map[string]any{"membership": map[string]any{"maxJoinDuration": "30s", "broadcastAddress": host}},
		Services: map[string]map[string]any{
			"frontend": rpc(fport, ports[0], map[string]any{"httpPort": ports[1]}),
			"history":  rpc(ports[2], ports[3], nil),
			"matching": rpc(ports[4], ports[5], nil),
			"worker":   rpc(ports[6], ports[7], nil),
		},
		ClusterMetadata: map[string]any{
			"enableGlobalNamespace": false, "failoverVersionIncrement": 10,
			"masterClusterName": "active", "currentClusterName": "active",
			"clusterInformation": map[string]any{"active": map[string]any{
				"enabled": true, "initialFailoverVersion": 1, "rpcName": "frontend", "rpcAddress": opts.HostPort,
			}},
		},
		DCRedirectionPolicy: map[string]any{"policy": "noop"},
		DynamicConfigClient: map[string]any{"filepath": dynamicPath, "pollInterval": "10s"},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "development.yaml"), b, 0o600); err != nil {
		return fmt.Errorf("writing the Temporal server config: %w", err)
	}
	dyn := map[string][]map[string]any{}
	for k, v := range TemporalDynamicConfig() {
		dyn[k] = []map[string]any{{"value": v}}
	}
	if b, err = json.MarshalIndent(dyn, "", "  "); err != nil {
		return err
	}
	if err := os.WriteFile(dynamicPath, b, 0o644); err != nil {
		return fmt.Errorf("writing the Temporal dynamic config: %w", err)
	}
	return nil
}

// waitTemporalSQLReady waits for the frontend, registers the namespace and
// search attributes when missing, and waits until the history service knows
// the namespace.
func waitTemporalSQLReady(ctx context.Context, proc *process, opts TemporalSQLOptions, tail *tailBuffer) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, temporalSQLReadyTimeout)
	defer cancel()
	clientOpts := client.Options{HostPort: opts.HostPort, Namespace: opts.Namespace, Logger: opts.Logger}
	var c client.Client
	var step string
	retry := func(err error) error {
		if done, exitErr := proc.exited(); done {
			return fmt.Errorf("starting the Temporal server on %s: it exited: %v%s", opts.HostPort, exitErr, logTail("its output", tail))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the Temporal server on %s to %s: %w (last error: %v)%s", opts.HostPort, step, ctx.Err(), err, logTail("its output", tail))
		case <-time.After(200 * time.Millisecond):
			return nil
		}
	}
	fail := func(err error) (client.Client, error) {
		if c != nil {
			c.Close()
		}
		return nil, err
	}

	step = "serve"
	for {
		dialCtx, cancelDial := context.WithTimeout(ctx, 5*time.Second)
		var err error
		c, err = client.DialContext(dialCtx, clientOpts)
		cancelDial()
		if err == nil {
			break
		}
		if err := retry(err); err != nil {
			return fail(err)
		}
	}
	step = "register namespace " + opts.Namespace
	for {
		_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        opts.Namespace,
			WorkflowExecutionRetentionPeriod: durationpb.New(72 * time.Hour),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err == nil || errors.As(err, &exists) {
			break
		}
		if err := retry(err); err != nil {
			return fail(err)
		}
	}
	// The history service knows the namespace once its cache has refreshed:
	// a lookup of a workflow that does not exist then says so.
	step = "serve namespace " + opts.Namespace
	for {
		_, err := c.WorkflowService().DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{
			Namespace: opts.Namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: "novaflow-readiness-probe"},
		})
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			break
		}
		if err := retry(err); err != nil {
			return fail(err)
		}
	}
	step = "register search attributes"
	for {
		err := addSearchAttributes(ctx, c, opts.Namespace, opts.SearchAttributes)
		if err == nil {
			break
		}
		if err := retry(err); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

// addSearchAttributes registers the attributes the namespace lacks.
func addSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs temporal.SearchAttributes) error {
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return err
	}
	missing := map[string]enums.IndexedValueType{}
	for key := range attrs.GetUntypedValues() {
		if _, ok := list.GetCustomAttributes()[key.GetName()]; !ok {
			missing[key.GetName()] = key.GetValueType()
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	return err
}

// temporalSQLPorts returns the ports of the server's services but the
// frontend's gRPC port: those of the last start, kept in file, when they are
// free, so that a restarted server has the addresses its cluster membership
// (in the database) remembers; otherwise new ones. The membership ports are
// kept in a smallint column: they must be below 32768, where the kernel's
// ephemeral ports are not.
func temporalSQLPorts(file, host string) ([]int, error) {
	var ports []int
	if b, err := os.ReadFile(file); err == nil && json.Unmarshal(b, &ports) == nil && len(ports) == 8 {
		free := true
		for _, p := range ports {
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return ports, nil
		}
	}
	ports = make([]int, 8)
	for i := range ports {
		var err error
		if ports[i], err = freeLowPort(host, ports[:i]); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(ports)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return nil, fmt.Errorf("writing the Temporal server's ports: %w", err)
	}
	return ports, nil
}

// freeLowPort returns a TCP port on host between 20000 and 32767, outside
// the usual ephemeral range, that was free a moment ago and is not in taken.
func freeLowPort(host string, taken []int) (int, error) {
	for range 200 {
		port := 20000 + rand.IntN(32768-20000)
		if slices.Contains(taken, port) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("finding a free port below 32768 on %s: none after 200 tries", host)
}
