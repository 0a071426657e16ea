package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/conductor"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/worker"
)

// The application_name of the bench's own direct connections, left out of
// the services' count.
const pgbMonitorApp = "novaflow-bench-monitor"

// pgbPhase is one way of connecting the services, as one row of the table.
type pgbPhase struct {
	name, about string
	prefix      string // of the phase's host names
	pooled      bool   // the services connect through PgBouncer

	maxConnections    int
	hosts, up, exited int
	others            string // the conductor's and scheduler's states
	steady, peak      int    // the services' PostgreSQL connections: at steady state, most seen
	byApp             map[string]int
	clients, sv       int           // PgBouncer: client connections, server connections (SHOW POOLS)
	maxWaiting        int           // PgBouncer: most clients waiting for a server in a sample
	maxWait           time.Duration // PgBouncer: longest wait seen (SHOW POOLS maxwait)
	steadyStats       pgbStats      // PgBouncer: over the steady window
	loadStats         pgbStats      // PgBouncer: over the queries, builds and calls
	builds, calls     latencies
	actionsPerCall    float64
	sqlstates         map[string]int
	firstSQLErr       string
	errorLines        int // level=ERROR lines in the services' logs
	exitLines         []string
	queryLat          map[string]*latencies // phase 1: a query, direct and through PgBouncer
}

func runPgBouncer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pgbouncer", flag.ExitOnError)
	var so serverOptions
	so.register(fs)
	hosts := fs.Int("hosts", 10, "compute hosts, each its own `novaflow run compute` process (fake driver), per phase")
	poolSize := fs.Int("pool", 20, "PgBouncer's server connections to the database (default_pool_size, max_db_connections)")
	mode := fs.String("exec-mode", "exec", "pgx default_query_exec_mode of the services' URL through PgBouncer: exec, simple_protocol, cache_describe, describe_exec or cache_statement (pgx's default)")
	steady := fs.Duration("steady", 60*time.Second, "wait once every host is up before reading the connections (covers one update_available_resource)")
	nBuilds := fs.Int("builds", 10, "conductor.build_instances run one after another in each phase")
	nCalls := fs.Int("calls", 200, "compute get_instance_info calls (each reads the instance's row on the host) one after another in each phase")
	nQueries := fs.Int("queries", 500, "the same one-row SELECT run by the bench, per way of connecting, in phase pgbouncer")
	probe := fs.Int("migrate-probe", 8, "concurrent `novaflow migrate` run through PgBouncer against an empty database (0: skip)")
	startPar := fs.Int("start-concurrency", 8, "compute processes starting at once: the next one starts when one has logged \"service started\" (or exited)")
	direct2000 := fs.Bool("direct-2000", true, "also run the direct phase on a PostgreSQL with max_connections=2000: how many connections the services hold unhindered")
	fs.Parse(args)

	bin, err := pgbouncerBinary()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "novaflow-bench-pgb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st := &stack{bin: filepath.Join(dir, "novaflow"), dir: dir}
	progress("building ./cmd/novaflow")
	if err := goBuild(ctx, ".", st.bin); err != nil {
		return err
	}
	if st.srv, err = startServer(ctx, so); err != nil {
		return err
	}
	defer st.srv.stop()
	if st.tc, err = st.srv.dial(ctx, nil); err != nil {
		return err
	}
	defer st.tc.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	cc, err := worker.Dial(ctx, st.srv.config("", "bench-caller"), logger)
	if err != nil {
		return err
	}
	defer cc.Close()
	caller, err := rpc.New(rpc.Options{Temporal: cc})
	if err != nil {
		return err
	}

	// PostgreSQL with its default max_connections (100).
	progress("starting PostgreSQL with its default max_connections")
	if st.pg, err = startPostgresWith(ctx); err != nil {
		return err
	}
	defer func() { st.pg.stop() }() // the one of the last phase
	if err := migrateDirect(ctx, st); err != nil {
		return err
	}
	mon, err := pgxpool.New(ctx, withParams(st.pg.url, "application_name", pgbMonitorApp, "pool_min_conns", "1", "pool_max_conns", "2"))
	if err != nil {
		return err
	}
	defer func() { mon.Close() }()

	pgb, err := startPgBouncer(ctx, bin, st.pg.url, *poolSize, max(1000, 8*(*hosts+10)))
	if err != nil {
		return err
	}
	defer pgb.stop()
	progress("PgBouncer %s listening on %s, transaction mode, %d server connections", pgb.version, pgb.addr, *poolSize)

	out := os.Stdout
	header(out, "PostgreSQL connections: PgBouncer in transaction mode against direct connections",
		"server: "+so.describe(),
		fmt.Sprintf("per phase: %d `novaflow run compute` (fake driver), one `novaflow run scheduler`, one `novaflow run conductor`, each its own process with pgx's default pool (max(4, CPUs) = %d connections at most), NOVAFLOW_MIGRATE_ON_START=false; the schema migrated before by `novaflow migrate` straight to PostgreSQL; the conductor and the scheduler started first, then the hosts, %d starting at once",
			*hosts, max(4, runtime.NumCPU()), max(1, *startPar)),
		fmt.Sprintf("PgBouncer %s, pool_mode=transaction, default_pool_size=max_db_connections=%d, auth trust, on loopback", pgb.version, *poolSize),
		fmt.Sprintf("connections: the services' client backends in pg_stat_activity (the bench's own left out), read every 2 s; steady: after every host was up and %s more", *steady),
		fmt.Sprintf("builds: %d conductor.build_instances of one instance, one after another; calls: %d `Call(compute, get_instance_info, ToHost(h))`, each reads one instances row on the host; actions per call: the server's action counter over the calls less its rate in the 10 s before", *nBuilds, *nCalls))
	var probeReport string
	if *probe > 0 {
		if probeReport, err = migrationProbe(ctx, st, mon, pgb, *mode, *probe); err != nil {
			return fmt.Errorf("migration probe: %w", err)
		}
		progress("migration probe: %s", probeReport)
	}

	cfg := pgbConfig{st: st, caller: caller, hosts: *hosts, steady: *steady, builds: *nBuilds, calls: *nCalls, queries: *nQueries, startPar: max(1, *startPar)}
	var phases []*pgbPhase
	p1 := &pgbPhase{name: "pgbouncer", prefix: "pgb-", pooled: true,
		about: fmt.Sprintf("every service through PgBouncer (transaction mode, %d server connections), default_query_exec_mode=%s", *poolSize, *mode)}
	if err := runPgbPhase(ctx, cfg, p1, mon, pgb.url(st.pg.url, *mode), pgb); err != nil {
		return fmt.Errorf("phase %s: %w", p1.name, err)
	}
	phases = append(phases, p1)
	// PgBouncer's server connections would count in the direct phase.
	pgb.stop()
	p2 := &pgbPhase{name: "direct-100", prefix: "dir-",
		about: "every service straight to PostgreSQL (max_connections=100), pgx's defaults"}
	if err := runPgbPhase(ctx, cfg, p2, mon, st.pg.url, nil); err != nil {
		return fmt.Errorf("phase %s: %w", p2.name, err)
	}
	phases = append(phases, p2)
	if *direct2000 && os.Getenv("NOVAFLOW_DATABASE_URL") == "" {
		mon.Close()
		st.pg.stop()
		progress("starting PostgreSQL with max_connections=2000")
		if st.pg, err = startPostgresWith(ctx, "max_connections=2000"); err != nil {
			return err
		}
		if err := migrateDirect(ctx, st); err != nil {
			return err
		}
		if mon, err = pgxpool.New(ctx, withParams(st.pg.url, "application_name", pgbMonitorApp, "pool_min_conns", "1", "pool_max_conns", "2")); err != nil {
			return err
		}
		p3 := &pgbPhase{name: "direct-2000", prefix: "d2k-",
			about: "every service straight to PostgreSQL (max_connections=2000), pgx's defaults"}
		if err := runPgbPhase(ctx, cfg, p3, mon, st.pg.url, nil); err != nil {
			return fmt.Errorf("phase %s: %w", p3.name, err)
		}
		phases = append(phases, p3)
	}

	printPgbPhases(out, phases)
	if q := p1.queryLat; q != nil {
		fmt.Fprintf(out, "One query from the bench during phase pgbouncer (`SELECT ... FROM compute_nodes WHERE host = $1 AND NOT deleted`, %d each, interleaved in rounds of 50):\n\n", *nQueries)
		fmt.Fprintln(out, "| connection | p50 ms | p99 ms | failed |")
		fmt.Fprintln(out, "|---|---|---|---|")
		for _, k := range pgbQueryKinds(*mode) {
			l := q[k]
			s := l.summary()
			fmt.Fprintf(out, "| %s | %s | %s | %d |\n", k, ms(s.p50), ms(s.p99), l.failed)
		}
		fmt.Fprintln(out)
	}
	if probeReport != "" {
		fmt.Fprintf(out, "Migrations through PgBouncer: %s\n\n", probeReport)
	}
	for _, p := range phases {
		fmt.Fprintf(out, "- %s: %s\n", p.name, p.about)
		if len(p.byApp) > 0 {
			fmt.Fprintf(out, "  - connections held at steady state: %s\n", describeByApp(p.byApp))
		}
		if p.pooled {
			fmt.Fprintf(out, "  - PgBouncer, steady window: %s\n", p.steadyStats)
			fmt.Fprintf(out, "  - PgBouncer, during the queries, builds and calls: %s\n", p.loadStats)
			fmt.Fprintf(out, "  - PgBouncer, whole phase (SHOW POOLS every 2 s): at most %d clients waiting for a server connection; longest wait seen %s\n", p.maxWaiting, p.maxWait)
		}
		fmt.Fprintf(out, "  - level=ERROR lines in the services' logs: %d\n", p.errorLines)
		if len(p.sqlstates) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(p.sqlstates)) {
				parts = append(parts, fmt.Sprintf("SQLSTATE %s: %d", k, p.sqlstates[k]))
			}
			fmt.Fprintf(out, "  - PostgreSQL errors in the services' logs: %s; first: `%s`\n", strings.Join(parts, ", "), p.firstSQLErr)
		}
		for _, l := range p.exitLines {
			fmt.Fprintf(out, "  - exited: `%s`\n", l)
		}
		if p.builds.first != nil {
			fmt.Fprintf(out, "  - first failed build: `%v`\n", p.builds.first)
		}
		if p.calls.first != nil {
			fmt.Fprintf(out, "  - first failed call: `%v`\n", p.calls.first)
		}
	}
	fmt.Fprintf(out, "\nload average (1 min) at end: %s\n\n", loadAvg())
	return nil
}

func printPgbPhases(out io.Writer, phases []*pgbPhase) {
	fmt.Fprintln(out, "| phase | max_connections | compute hosts up / started (exited) | conductor, scheduler | PostgreSQL connections of the services: steady (peak) | per service | PgBouncer clients / server connections | builds ok, p50 / max ms | get_instance_info p50 / p99 ms (failed) | actions per call |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|")
	for _, p := range phases {
		pgb := "-"
		if p.pooled {
			pgb = fmt.Sprintf("%d / %d", p.clients, p.sv)
		}
		b, c := p.builds.summary(), p.calls.summary()
		fmt.Fprintf(out, "| %s | %d | %d / %d (%d) | %s | %d (%d) | %.2f | %s | %d/%d, %s / %s | %s / %s (%d) | %.1f |\n",
			p.name, p.maxConnections, p.up, p.hosts, p.exited, p.others, p.steady, p.peak, float64(p.steady)/float64(p.hosts+2), pgb,
			b.n, b.n+p.builds.failed, ms(b.p50), ms(b.max), ms(c.p50), ms(c.p99), p.calls.failed, p.actionsPerCall)
	}
	fmt.Fprintln(out)
}

type pgbConfig struct {
	st                     *stack
	caller                 *rpc.Client
	hosts                  int
	steady                 time.Duration
	builds, calls, queries int
	startPar               int
}

// runPgbPhase starts the services of phase p on serviceURL, waits until
// they are up and steady, measures, and stops them.
func runPgbPhase(ctx context.Context, cfg pgbConfig, p *pgbPhase, mon *pgxpool.Pool, serviceURL string, pgb *pgbouncer) error {
	st := cfg.st
	p.hosts = cfg.hosts
	if err := mon.QueryRow(ctx, `SELECT current_setting('max_connections')::int`).Scan(&p.maxConnections); err != nil {
		return err
	}
	progress("%s: starting the conductor, the scheduler and %d compute hosts", p.name, cfg.hosts)

	// The services' connections, sampled all along.
	var mu sync.Mutex
	count := func() (int, error) {
		var n int
		err := mon.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'client backend' AND datname = current_database() AND application_name <> $1`, pgbMonitorApp).Scan(&n)
		return n, err
	}
	last := 0
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n, err := count(); err == nil {
				mu.Lock()
				last, p.peak = n, max(p.peak, n)
				mu.Unlock()
			}
			if pgb != nil {
				if pools, err := pgb.show(sampleCtx, "POOLS"); err == nil {
					for _, r := range pools {
						if r["database"] != dbName(serviceURL) {
							continue
						}
						w := time.Duration(atoi(r["maxwait"]))*time.Second + time.Duration(atoi(r["maxwait_us"]))*time.Microsecond
						mu.Lock()
						p.maxWaiting, p.maxWait = max(p.maxWaiting, atoi(r["cl_waiting"])), max(p.maxWait, w)
						mu.Unlock()
					}
				}
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()
	defer func() { stopSampling(); <-sampled }()

	run := func(topic, host string) (*service, error) {
		return st.run(topic, host, "DATABASE_URL="+withParams(serviceURL, "application_name", "novaflow-"+topic+"/"+host),
			"MIGRATE_ON_START=false", "LOG_LEVEL=info")
	}
	// started waits until s has logged that it started, or exited.
	started := func(s *service) {
		_ = waitEvery(ctx, 90*time.Second, 50*time.Millisecond, func() bool {
			select {
			case <-s.done:
				return true
			default:
			}
			return s.lineAt("service started") >= 0
		})
	}
	var procs []*service
	defer func() {
		var wg sync.WaitGroup
		for _, s := range procs {
			wg.Add(1)
			go func() { defer wg.Done(); s.term() }()
		}
		wg.Wait()
	}()
	// The conductor and the scheduler first, then the hosts, at most
	// cfg.startPar starting at once: a fleet's hosts do not all start in the
	// same second.
	for _, topic := range []string{"conductor", "scheduler"} {
		s, err := run(topic, p.prefix+topic)
		if err != nil {
			return err
		}
		procs = append(procs, s)
		started(s)
	}
	computes := make([]*service, cfg.hosts)
	var wg sync.WaitGroup
	var firstErr error
	sem := make(chan struct{}, cfg.startPar)
	for i := range computes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := run("compute", fmt.Sprintf("%s%04d", p.prefix, i+1))
			mu.Lock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			computes[i] = s
			mu.Unlock()
			if s != nil {
				started(s)
			}
		}()
	}
	wg.Wait()
	for _, s := range computes {
		if s != nil {
			procs = append(procs, s)
		}
	}
	if firstErr != nil {
		return firstErr
	}

	store := servicegroup.NewStore(mon)
	downTime := servicegroup.DownTime(servicegroup.DefaultServiceDownTime, 10*time.Second)
	states := func() (up int, other map[string]servicegroup.State) {
		other = map[string]servicegroup.State{}
		recs, now, err := store.List(ctx, servicegroup.Filter{})
		if err != nil {
			return 0, other
		}
		for _, r := range recs {
			if !strings.HasPrefix(r.Host, p.prefix) {
				continue
			}
			s := servicegroup.Status(r, now, downTime)
			if r.Topic == "compute" && s == servicegroup.Up {
				up++
			} else if r.Topic != "compute" {
				other[r.Topic] = s
			}
		}
		return up, other
	}
	exited := func(list []*service) int {
		n := 0
		for _, s := range list {
			select {
			case <-s.done:
				n++
			default:
			}
		}
		return n
	}
	wait := 2 * time.Minute
	progress("%s: all started; waiting up to %s for every host to be up", p.name, wait)
	_ = waitEvery(ctx, wait, 2*time.Second, func() bool {
		up, other := states()
		ex := exited(computes)
		return up+ex >= cfg.hosts && other["conductor"] == servicegroup.Up && other["scheduler"] == servicegroup.Up ||
			up+ex >= cfg.hosts && exited(procs[:2]) > 0
	})
	up, _ := states()
	progress("%s: %d of %d hosts up, %d exited; steady for %s", p.name, up, cfg.hosts, exited(computes), cfg.steady)
	var s0 pgbTotals
	if pgb != nil {
		s0 = pgb.totals(ctx, dbName(serviceURL))
	}
	select {
	case <-time.After(cfg.steady):
	case <-ctx.Done():
		return ctx.Err()
	}
	var other map[string]servicegroup.State
	p.up, other = states()
	p.exited = exited(computes)
	p.others = fmt.Sprintf("%s, %s", orDash(other["conductor"]), orDash(other["scheduler"]))
	if n, err := count(); err == nil {
		p.steady = n
	} else {
		mu.Lock()
		p.steady = last
		mu.Unlock()
	}
	if !p.pooled {
		p.byApp = map[string]int{}
		rows, err := mon.Query(ctx, `SELECT application_name, count(*) FROM pg_stat_activity
			WHERE backend_type = 'client backend' AND datname = current_database() AND application_name <> $1 GROUP BY 1`, pgbMonitorApp)
		if err != nil {
			return err
		}
		for rows.Next() {
			var app string
			var n int
			if err := rows.Scan(&app, &n); err != nil {
				return err
			}
			p.byApp[app] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	var s1 pgbTotals
	if pgb != nil {
		s1 = pgb.totals(ctx, dbName(serviceURL))
		p.steadyStats = s1.since(s0)
		pools, err := pgb.show(ctx, "POOLS")
		if err != nil {
			return err
		}
		db := dbName(serviceURL)
		for _, r := range pools {
			if r["database"] != db {
				continue
			}
			p.clients += atoi(r["cl_active"]) + atoi(r["cl_waiting"])
			p.sv += atoi(r["sv_active"]) + atoi(r["sv_idle"]) + atoi(r["sv_used"]) + atoi(r["sv_tested"]) + atoi(r["sv_login"])
		}
	}
	progress("%s: steady: %d server connections (peak %d), %d of %d hosts up, conductor and scheduler %s; PgBouncer clients %d, servers %d",
		p.name, p.steady, p.peak, p.up, cfg.hosts, p.others, p.clients, p.sv)

	if p.pooled && cfg.queries > 0 {
		if err := pgbQueries(ctx, p, mon, serviceURL, cfg.queries); err != nil {
			return err
		}
	}

	// Builds, one after another.
	type built struct{ uuid, host string }
	var instances []built
	fails := 0
	for i := range cfg.builds {
		if fails >= 3 {
			p.builds.fail(errors.New("skipped after 3 failures in a row"))
			continue
		}
		bctx, cancel := context.WithTimeout(ctx, time.Minute)
		t0 := time.Now()
		res, err := pgbBuild(bctx, st.tc, fmt.Sprintf("%sbuild-%d", p.prefix, i+1))
		d := time.Since(t0)
		cancel()
		if err != nil {
			fails++
			p.builds.fail(err)
			progress("%s: build %d failed after %s: %v", p.name, i+1, d.Round(time.Millisecond), err)
			continue
		}
		fails = 0
		p.builds.add(d)
		instances = append(instances, built{res.UUID, res.Host})
	}
	progress("%s: %d builds ok, %d failed", p.name, len(instances), p.builds.failed)

	// Calls to the hosts of the instances built, each reading one row there.
	if len(instances) > 0 && cfg.calls > 0 {
		a0 := st.srv.counter("action", `namespace="default"`)
		time.Sleep(10 * time.Second)
		a1 := st.srv.counter("action", `namespace="default"`)
		background := (a1 - a0) / 10
		t0 := time.Now()
		ok := 0
		for i := range cfg.calls {
			in := instances[i%len(instances)]
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			t := time.Now()
			var info compute.InstanceInfo
			err := cfg.caller.Call(cctx, "compute", "get_instance_info", compute.InfoRequest{InstanceUUID: in.uuid}, &info, rpc.ToHost(in.host))
			cancel()
			if err != nil {
				p.calls.fail(err)
				continue
			}
			ok++
			p.calls.add(time.Since(t))
		}
		time.Sleep(3 * time.Second) // the server's metrics lag
		a2 := st.srv.counter("action", `namespace="default"`)
		if ok > 0 {
			p.actionsPerCall = (a2 - a1 - background*time.Since(t0).Seconds()) / float64(ok)
		}
		progress("%s: %d calls ok, %d failed, %.1f actions per call (background %.2f actions/s)", p.name, ok, p.calls.failed, p.actionsPerCall, background)
	}
	if pgb != nil {
		p.loadStats = pgb.totals(ctx, dbName(serviceURL)).since(s1)
	}

	// What the services said about PostgreSQL, and who exited.
	p.sqlstates = map[string]int{}
	sqlstate := regexp.MustCompile(`SQLSTATE ([0-9A-Z]{5})`)
	for _, s := range procs {
		for _, line := range strings.Split(s.output(), "\n") {
			if strings.Contains(line, "level=ERROR") {
				p.errorLines++
			}
			if m := sqlstate.FindStringSubmatch(line); m != nil {
				p.sqlstates[m[1]]++
				if p.firstSQLErr == "" {
					p.firstSQLErr = strings.TrimSpace(line)
				}
			}
		}
		select {
		case <-s.done:
			if len(p.exitLines) < 3 {
				out := strings.TrimSpace(s.output())
				p.exitLines = append(p.exitLines, out[strings.LastIndexByte(out, '\n')+1:])
			}
		default:
		}
	}
	return nil
}

// describeByApp sums the connections of each topic (application_name
// novaflow-<topic>/<host>) and says how many each process holds.
func describeByApp(byApp map[string]int) string {
	total := map[string]int{}
	procs := map[string]map[int]int{} // topic -> connections -> processes
	for app, n := range byApp {
		topic, _, _ := strings.Cut(strings.TrimPrefix(app, "novaflow-"), "/")
		if topic == "" {
			topic = "(no application_name)"
		}
		total[topic] += n
		if procs[topic] == nil {
			procs[topic] = map[int]int{}
		}
		procs[topic][n]++
	}
	var parts []string
	for _, topic := range slices.Sorted(maps.Keys(total)) {
		var per []string
		for _, n := range slices.Sorted(maps.Keys(procs[topic])) {
			per = append(per, fmt.Sprintf("%d process(es) with %d", procs[topic][n], n))
		}
		parts = append(parts, fmt.Sprintf("%s %d (%s)", topic, total[topic], strings.Join(per, ", ")))
	}
	return strings.Join(parts, "; ")
}

func orDash(s servicegroup.State) string {
	if s == "" {
		return "absent"
	}
	return string(s)
}

// pgbBuild runs conductor.build_instances of one instance and returns it.
func pgbBuild(ctx context.Context, tc client.Client, name string) (conductor.BuiltInstance, error) {
	in := json.RawMessage(fmt.Sprintf(`{"name":%q,"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]}}`, name))
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-pgb/" + uuid.NewString(), TaskQueue: conductor.Topic,
		WorkflowExecutionTimeout: time.Minute}, conductor.BuildInstancesName, in)
	if err != nil {
		return conductor.BuiltInstance{}, err
	}
	var res conductor.BuildResult
	if err := run.Get(ctx, &res); err != nil {
		return conductor.BuiltInstance{}, err
	}
	if len(res.Instances) != 1 || res.Instances[0].VMState != "active" {
		return conductor.BuiltInstance{}, fmt.Errorf("build result %+v", res)
	}
	return res.Instances[0], nil
}

// pgbQueryKinds are the ways the bench runs its query in phase pgbouncer.
func pgbQueryKinds(mode string) []string {
	return []string{"direct, pgx default (cache_statement)", "direct, " + mode, "PgBouncer, " + mode}
}

// pgbQueries times one indexed one-row SELECT straight to PostgreSQL and
// through PgBouncer, interleaved.
func pgbQueries(ctx context.Context, p *pgbPhase, mon *pgxpool.Pool, pooledURL string, n int) error {
	mode := pooledURL[strings.Index(pooledURL, "default_query_exec_mode=")+len("default_query_exec_mode="):]
	mode, _, _ = strings.Cut(mode, "&")
	kinds := pgbQueryKinds(mode)
	directURL := mon.Config().ConnString()
	urls := []string{
		withParams(directURL, "pool_max_conns", "1"),
		withParams(directURL, "pool_max_conns", "1", "default_query_exec_mode", mode),
		withParams(pooledURL, "pool_max_conns", "1", "application_name", "novaflow-bench-pooled"),
	}
	p.queryLat = map[string]*latencies{}
	pools := make([]*pgxpool.Pool, len(urls))
	for i, u := range urls {
		pool, err := pgxpool.New(ctx, u)
		if err != nil {
			return err
		}
		defer pool.Close()
		pools[i] = pool
		p.queryLat[kinds[i]] = &latencies{}
	}
	host := p.prefix + "0001"
	q := `SELECT id, vcpus, memory_mb FROM compute_nodes WHERE host = $1 AND NOT deleted`
	for done := 0; done < n; done += 50 {
		for i, pool := range pools {
			for range min(50, n-done) {
				var id int64
				var vcpus, mem int
				t := time.Now()
				err := pool.QueryRow(ctx, q, host).Scan(&id, &vcpus, &mem)
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					p.queryLat[kinds[i]].fail(err)
					continue
				}
				p.queryLat[kinds[i]].add(time.Since(t))
			}
		}
	}
	for _, k := range kinds {
		s := p.queryLat[k].summary()
		progress("%s: query %s: p50 %s ms, p99 %s ms, %d failed", p.name, k, ms(s.p50), ms(s.p99), p.queryLat[k].failed)
	}
	return nil
}

// migrateDirect runs `novaflow migrate` straight to PostgreSQL, as the
// deployment must when services go through PgBouncer.
func migrateDirect(ctx context.Context, st *stack) error {
	progress("novaflow migrate, straight to PostgreSQL")
	cmd := exec.CommandContext(ctx, st.bin, "migrate")
	cmd.Env = st.env("bench-migrate")
	cmd.Dir = st.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("novaflow migrate: %w\n%s", err, out)
	}
	return nil
}

// migrationProbe runs k `novaflow migrate` at once through PgBouncer on an
// empty database and reports what became of them and of goose's
// session-level advisory lock.
func migrationProbe(ctx context.Context, st *stack, mon *pgxpool.Pool, pgb *pgbouncer, mode string, k int) (string, error) {
	const probeDB = "novaflow_probe"
	progress("migration probe: %d `novaflow migrate` at once through PgBouncer on an empty database", k)
	if _, err := mon.Exec(ctx, "DROP DATABASE IF EXISTS "+probeDB); err != nil {
		return "", err
	}
	if _, err := mon.Exec(ctx, "CREATE DATABASE "+probeDB); err != nil {
		return "", err
	}
	probeURL := withDB(pgb.url(st.pg.url, mode), probeDB)
	const limit = 60 * time.Second
	type result struct {
		err  error
		d    time.Duration
		tail string
	}
	results := make([]result, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, limit)
			defer cancel()
			cmd := exec.CommandContext(cctx, st.bin, "migrate")
			cmd.Env = append(st.env(fmt.Sprintf("probe-%d", i)), "NOVAFLOW_DATABASE_URL="+probeURL)
			cmd.Dir = st.dir
			t := time.Now()
			out, err := cmd.CombinedOutput()
			tail := strings.TrimSpace(string(out))
			tail = tail[strings.LastIndexByte(tail, '\n')+1:]
			if cctx.Err() != nil {
				err = fmt.Errorf("still running after %s", limit)
			}
			results[i] = result{err, time.Since(t), tail}
		}()
	}
	wg.Wait()
	ok, failed, timedOut := 0, 0, 0
	var firstErr string
	var longest time.Duration
	for _, r := range results {
		longest = max(longest, r.d)
		switch {
		case r.err == nil:
			ok++
		case strings.HasPrefix(r.err.Error(), "still running"):
			timedOut++
		default:
			failed++
			if firstErr == "" {
				firstErr = r.tail
			}
		}
	}
	var locks int
	if err := mon.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND d.datname = $1`, probeDB).Scan(&locks); err != nil {
		return "", err
	}
	version := "none"
	if pc, err := pgx.Connect(ctx, withDB(st.pg.url, probeDB)); err == nil {
		var v int64
		if err := pc.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_novaflow WHERE is_applied`).Scan(&v); err == nil {
			version = strconv.FormatInt(v, 10)
		}
		pc.Close(ctx)
	}
	// Drop the probe's server connections, and any lock they hold.
	_, _ = pgb.show(ctx, "KILL "+probeDB)
	s := fmt.Sprintf("%d concurrent `novaflow migrate` through PgBouncer (default_query_exec_mode=%s) on an empty database: %d succeeded, %d failed, %d still running after %s (killed); longest %s; goose's advisory lock still held afterwards on %d PgBouncer server connection(s); schema version reached %s",
		k, mode, ok, failed, timedOut, limit, longest.Round(100*time.Millisecond), locks, version)
	if firstErr != "" {
		s += "; first failure: `" + firstErr + "`"
	}
	return s, nil
}

// pgbouncer is a PgBouncer process the bench started.
type pgbouncer struct {
	cmd     *exec.Cmd
	dir     string
	addr    string
	user    string
	version string
	log     *lockedTail
	done    chan struct{}
	admin   *pgx.Conn
	mu      sync.Mutex
	stopped bool
}

// pgbouncerBinary finds pgbouncer, also in /usr/sbin where Debian puts it.
func pgbouncerBinary() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer", "/usr/local/bin/pgbouncer"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("pgbouncer not found in PATH nor /usr/sbin: install it (Debian/Ubuntu: apt-get install pgbouncer)")
}

// startPgBouncer starts PgBouncer in transaction mode in front of the
// PostgreSQL of directURL, on a free loopback port, its configuration in a
// temporary folder.
func startPgBouncer(ctx context.Context, bin, directURL string, poolSize, maxClients int) (*pgbouncer, error) {
	u, err := url.Parse(directURL)
	if err != nil {
		return nil, err
	}
	pgHost, pgPort, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL URL %s: %w", u.Redacted(), err)
	}
	pgUser := u.User.Username()
	port, err := devstack.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "novaflow-bench-pgbouncer-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // read by user postgres when run as root
		os.RemoveAll(dir)
		return nil, err
	}
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
admin_users = %s
pool_mode = transaction
default_pool_size = %d
max_db_connections = %d
max_client_conn = %d
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
`, pgHost, pgPort, port, filepath.Join(dir, "userlist.txt"), pgUser, poolSize, poolSize, maxClients)
	files := map[string]string{"pgbouncer.ini": ini, "userlist.txt": fmt.Sprintf("%q \"\"\n", pgUser)}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	var args []string
	if os.Geteuid() == 0 { // PgBouncer refuses to run as root
		pu, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("PgBouncer does not run as root and there is no user postgres: %w", err)
		}
		args = append(args, "-u", pu.Username)
	}
	version := "?"
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		version = strings.TrimPrefix(strings.SplitN(string(out), "\n", 2)[0], "PgBouncer ")
	}
	cmd := exec.Command(bin, append(args, filepath.Join(dir, "pgbouncer.ini"))...)
	log := &lockedTail{}
	cmd.Stdout, cmd.Stderr = log, log
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	b := &pgbouncer{cmd: cmd, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", port), user: pgUser, version: version, log: log, done: make(chan struct{})}
	go func() { cmd.Wait(); close(b.done) }()
	if err := waitEvery(ctx, 10*time.Second, 20*time.Millisecond, func() bool {
		select {
		case <-b.done:
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", b.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		b.stop()
		return nil, fmt.Errorf("PgBouncer did not listen on %s: %w\n%s", b.addr, err, log.String())
	}
	select {
	case <-b.done:
		b.stop()
		return nil, fmt.Errorf("PgBouncer exited: %s", log.String())
	default:
	}
	if b.admin, err = pgx.Connect(ctx, fmt.Sprintf("postgres://%s@%s/pgbouncer?sslmode=disable&default_query_exec_mode=simple_protocol", url.User(pgUser).String(), b.addr)); err != nil {
		b.stop()
		return nil, fmt.Errorf("PgBouncer's admin console: %w\n%s", err, log.String())
	}
	return b, nil
}

// pgbTotals are the counters of SHOW STATS for one database.
type pgbTotals struct {
	at                 time.Time
	xacts, queries     int64
	xactTimeUs, waitUs int64
	ok                 bool
}

// pgbStats is what happened between two pgbTotals.
type pgbStats struct {
	d                  time.Duration
	xacts, queries     int64
	xactTimeUs, waitUs int64
}

func (t pgbTotals) since(t0 pgbTotals) pgbStats {
	if !t.ok || !t0.ok {
		return pgbStats{}
	}
	return pgbStats{d: t.at.Sub(t0.at), xacts: t.xacts - t0.xacts, queries: t.queries - t0.queries,
		xactTimeUs: t.xactTimeUs - t0.xactTimeUs, waitUs: t.waitUs - t0.waitUs}
}

func (s pgbStats) String() string {
	if s.d == 0 || s.xacts == 0 {
		return "no transactions"
	}
	return fmt.Sprintf("%d transactions in %s (%.1f/s), %d queries; a transaction holds a server connection %.0f us on average; clients waited for a server connection %.0f us per transaction on average (%.3f s in all)",
		s.xacts, s.d.Round(time.Second), float64(s.xacts)/s.d.Seconds(), s.queries, float64(s.xactTimeUs)/float64(s.xacts), float64(s.waitUs)/float64(s.xacts), float64(s.waitUs)/1e6)
}

// totals reads SHOW STATS for database db.
func (b *pgbouncer) totals(ctx context.Context, db string) pgbTotals {
	rows, err := b.show(ctx, "STATS")
	if err != nil {
		return pgbTotals{}
	}
	for _, r := range rows {
		if r["database"] == db {
			n := func(k string) int64 { v, _ := strconv.ParseInt(r[k], 10, 64); return v }
			return pgbTotals{at: time.Now(), xacts: n("total_xact_count"), queries: n("total_query_count"),
				xactTimeUs: n("total_xact_time"), waitUs: n("total_wait_time"), ok: true}
		}
	}
	return pgbTotals{}
}

// url is directURL through PgBouncer, with pgx's query mode set.
func (b *pgbouncer) url(directURL, mode string) string {
	u, _ := url.Parse(directURL)
	u.Host = b.addr
	s := u.String()
	return withParams(s, "default_query_exec_mode", mode)
}

// show runs SHOW what (or an admin command) on the admin console: one map
// of column to text per row.
func (b *pgbouncer) show(ctx context.Context, what string) ([]map[string]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.admin == nil {
		return nil, errors.New("PgBouncer stopped")
	}
	q := what
	if !strings.Contains(what, " ") {
		q = "SHOW " + what
	}
	rows, err := b.admin.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("PgBouncer %s: %w", q, err)
	}
	defer rows.Close()
	var out []map[string]string
	for rows.Next() {
		fds := rows.FieldDescriptions()
		m := map[string]string{}
		for i, v := range rows.RawValues() {
			m[fds[i].Name] = string(v)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (b *pgbouncer) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	b.stopped = true
	if b.admin != nil {
		b.admin.Close(context.Background())
		b.admin = nil
	}
	if b.cmd.Process != nil {
		b.cmd.Process.Signal(syscall.SIGTERM) // immediate shutdown; SIGINT waits for the clients
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			b.cmd.Process.Kill()
			<-b.done
		}
	}
	os.RemoveAll(b.dir)
}

// lockedTail keeps the last 8 KiB written to it.
type lockedTail struct {
	mu sync.Mutex
	b  []byte
}

func (t *lockedTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 8<<10 {
		t.b = t.b[len(t.b)-8<<10:]
	}
	return len(p), nil
}

func (t *lockedTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// withParams sets query parameters of a PostgreSQL URL (kv: name, value...).
func withParams(raw string, kv ...string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// withDB is a PostgreSQL URL with another database.
func withDB(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

func dbName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
