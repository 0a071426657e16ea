package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/worker"
	"github.com/novaflow/novaflow/workflows"
)

// Server profiles: the dynamic config the dev server starts with.
const (
	// profileDev is devstack.TemporalServerArgs: what `novaflow dev` and the
	// tests run.
	profileDev = "dev"
	// profileDefault is the CLI's own defaults (no pragmas either).
	profileDefault = "default"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// serverOptions choose the Temporal server of a run.
type serverOptions struct {
	profile string
	dc      listFlag
	pragmas listFlag
	db      string
	address string
	// compression is the gRPC compression of every client the bench
	// dials, novaflow's and the raw SDK's alike: none (as novaflow dev) or gzip.
	compression string
	// dropKeys are dynamic config keys of the profile to leave out.
	dropKeys []string
}

func (o *serverOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.profile, "server", profileDev, "dynamic config of the dev server: dev (the dev stack's TemporalServerArgs) or default (the CLI's defaults)")
	fs.Var(&o.dc, "dc", "extra dynamic config key=value for the dev server, after the profile's (repeatable)")
	fs.Var(&o.pragmas, "pragma", "extra SQLite pragma key=value for a file-backed dev server, after the profile's (repeatable)")
	fs.StringVar(&o.db, "db", "file", "dev server storage: file (SQLite file, as novaflow dev) or memory (as the tests)")
	fs.StringVar(&o.compression, "grpc-compression", "none", "gRPC compression of every client, novaflow's and the raw SDK's: none (as novaflow dev) or gzip (the SDK's default)")
	fs.StringVar(&o.address, "temporal-address", "", "use this Temporal frontend (namespace default, novaflow's search attributes registered) instead of starting a dev server; no server CPU figures then")
}

func (o serverOptions) describe() string {
	if o.address != "" {
		return "existing server " + o.address + ", clients' gRPC compression " + o.compression
	}
	s := fmt.Sprintf("dev server (CLI %s), %s, profile %s, clients' gRPC compression %s", devstack.TemporalCLIVersion, o.db, o.profile, o.compression)
	if len(o.dc) > 0 {
		s += " + " + strings.Join(o.dc, " ")
	}
	if len(o.pragmas) > 0 {
		s += " + pragma " + strings.Join(o.pragmas, " ")
	}
	return s
}

// serverArgs are the dynamic config flags of o's profile and extras.
func (o serverOptions) serverArgs() ([]string, error) {
	var args []string
	switch o.profile {
	case profileDev:
		args = devstack.TemporalServerArgs(o.db == "file")
	case profileDefault:
	default:
		return nil, fmt.Errorf("-server %q: want %s or %s", o.profile, profileDev, profileDefault)
	}
	for _, key := range o.dropKeys {
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--dynamic-config-value" && strings.HasPrefix(args[i+1], key+"=") {
				args = slices.Delete(args, i, i+2)
				i--
			}
		}
	}
	for _, kv := range o.dc {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("-dc %q: want key=value", kv)
		}
		args = append(args, "--dynamic-config-value", kv)
	}
	for _, kv := range o.pragmas {
		if o.db != "file" {
			return nil, fmt.Errorf("-pragma %q: only for -db file", kv)
		}
		args = append(args, "--sqlite-pragma", kv)
	}
	return args, nil
}

// server is the Temporal server of a run.
type server struct {
	compression string // of the clients dialled: none or gzip
	addr        string
	metricsURL  string // "" when unknown
	cmd         *exec.Cmd
	dir         string
}

// startServer starts the dev server o describes (or uses o.address) and
// waits until it serves namespace default.
func startServer(ctx context.Context, o serverOptions) (*server, error) {
	progress("starting the Temporal server: %s", o.describe())
	if o.compression != "none" && o.compression != "gzip" {
		return nil, fmt.Errorf("-grpc-compression %q: want none or gzip", o.compression)
	}
	if o.address != "" {
		s := &server{addr: o.address, compression: o.compression}
		c, err := s.dial(ctx, nil)
		if err != nil {
			return nil, err
		}
		c.Close()
		return s, nil
	}
	extra, err := o.serverArgs()
	if err != nil {
		return nil, err
	}
	cli, err := devstack.TemporalCLI(ctx, os.Stderr)
	if err != nil {
		return nil, err
	}
	port, err := devstack.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	mport, err := devstack.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "novaflow-bench-temporal-")
	if err != nil {
		return nil, err
	}
	args := []string{
		"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--headless",
		"--namespace", "default", "--log-level", "error", "--metrics-port", strconv.Itoa(mport),
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
	}
	if o.db == "file" {
		args = append(args, "--db-filename", filepath.Join(dir, "temporal.db"))
	} else if o.db != "memory" {
		return nil, fmt.Errorf("-db %q: want file or memory", o.db)
	}
	var attrs []string
	for key := range workflows.SearchAttributes().GetUntypedValues() {
		attrs = append(attrs, key.GetName()+"="+key.GetValueType().String())
	}
	slices.Sort(attrs)
	for _, a := range attrs {
		args = append(args, "--search-attribute", a)
	}
	args = append(args, extra...)
	cmd := exec.Command(cli, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start the Temporal dev server: %w", err)
	}
	s := &server{compression: o.compression, addr: fmt.Sprintf("127.0.0.1:%d", port), metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", mport), cmd: cmd, dir: dir}
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		c, err := s.dial(waitCtx, nil)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-waitCtx.Done():
			s.stop()
			return nil, fmt.Errorf("the Temporal dev server did not come up: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dial connects a plain SDK client (no interceptors) to namespace default.
func (s *server) dial(ctx context.Context, logger *slog.Logger) (client.Client, error) {
	return s.dialWith(ctx, logger, client.ConnectionOptions{GrpcCompression: grpcCompression(s.compression)})
}

// grpcCompression is the SDK's option for name: none or gzip.
func grpcCompression(name string) client.GrpcCompression {
	if name == "none" {
		return &client.GrpcCompressionNone{}
	}
	return &client.GrpcCompressionGzip{}
}

// config is serviceConfig for this server: novaflow's clients compress as
// the raw SDK's do.
func (s *server) config(dbURL, host string) worker.Config {
	c := serviceConfig(s.addr, dbURL, host)
	c.TemporalGRPCCompression = s.compression
	return c
}

// dialWith is dial with connection options.
func (s *server) dialWith(ctx context.Context, logger *slog.Logger, conn client.ConnectionOptions) (client.Client, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: s.addr, Namespace: "default", Logger: sdklog.NewStructuredLogger(logger), ConnectionOptions: conn})
	if err != nil {
		return nil, err
	}
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// pid is the server process's, 0 for an existing server.
func (s *server) pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// counters reads the server's Prometheus counters: name -> sum over labels
// matching filter (a substring of the label set, "" for all).
func (s *server) counter(name, filter string) float64 {
	if s.metricsURL == "" {
		return 0
	}
	resp, err := http.Get(s.metricsURL)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if filter != "" && !strings.Contains(line, filter) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// samples reads the server's metrics whose name starts with any of
// prefixes: line (name and labels) -> value.
func (s *server) samples(prefixes ...string) map[string]float64 {
	out := map[string]float64{}
	if s.metricsURL == "" {
		return out
	}
	resp, err := http.Get(s.metricsURL)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, prefix := range prefixes {
			if strings.HasPrefix(line, prefix) {
				i := strings.LastIndexByte(line, ' ')
				if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
					out[line[:i]] = v
				}
				break
			}
		}
	}
	return out
}

// postgres is the PostgreSQL cluster of a run, in test mode (no fsync), as
// the tests run it; or the server of NOVAFLOW_DATABASE_URL.
type postgres struct {
	url string
	pg  *devstack.Postgres
	dir string
}

// startServerAndPostgres starts the Temporal server o describes and a
// PostgreSQL cluster; stop stops both.
func startServerAndPostgres(ctx context.Context, o serverOptions) (_ *server, _ *postgres, stop func(), err error) {
	srv, err := startServer(ctx, o)
	if err != nil {
		return nil, nil, nil, err
	}
	pg, err := startPostgres(ctx)
	if err != nil {
		srv.stop()
		return nil, nil, nil, err
	}
	return srv, pg, func() { pg.stop(); srv.stop() }, nil
}

// startServerPostgresClient is startServerAndPostgres with a plain client of
// the server.
func startServerPostgresClient(ctx context.Context, o serverOptions) (*server, *postgres, client.Client, error) {
	srv, pg, stop, err := startServerAndPostgres(ctx, o)
	if err != nil {
		return nil, nil, nil, err
	}
	tc, err := srv.dial(ctx, nil)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return srv, pg, tc, nil
}

func startPostgres(ctx context.Context) (*postgres, error) {
	// Every service process holds a pool of its own: hundreds of them need
	// more than PostgreSQL's default 100 connections.
	return startPostgresWith(ctx, "max_connections=2000")
}

// startPostgresWith is startPostgres with the given server settings
// (name=value) instead of max_connections=2000: none leaves PostgreSQL's
// defaults (max_connections=100).
func startPostgresWith(ctx context.Context, settings ...string) (*postgres, error) {
	progress("starting PostgreSQL")
	if u := os.Getenv("NOVAFLOW_DATABASE_URL"); u != "" {
		return &postgres{url: u}, nil
	}
	dir, err := os.MkdirTemp("", "novaflow-bench-pg-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // as root, postgres runs as user postgres
		return nil, err
	}
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: filepath.Join(dir, "pg"), Settings: settings})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	return &postgres{url: pg.URL(), pg: pg, dir: dir}, nil
}

func (p *postgres) stop() {
	if p.pg != nil {
		p.pg.Stop()
	}
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}

// procCPU is the CPU time (user + system) process pid has used, with its
// children that it waited for.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// fields[11] is utime, [12] stime (fields 14 and 15 of stat(5)).
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ = 100 on Linux
}

// procRSS is the resident set size of process pid in bytes (VmRSS).
func procRSS(pid int) int64 { return procStatus(pid, "VmRSS") }

// procStatus is a size field of /proc/<pid>/status in bytes (VmRSS,
// RssAnon: heap and stacks, RssFile: the mapped binary).
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
