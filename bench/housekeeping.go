package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/servicegroup"
)

// A housekeeping design, as one row of the cost table: which binary runs the
// hosts, with which settings, on a server with which dynamic config.
type hkDesign struct {
	name, about string
	before      bool     // run the binary built at -before
	settings    []string // NAME=value, without NOVAFLOW_
	drop        []string // dynamic config keys of the dev profile to leave out
}

var hkDesigns = []hkDesign{
	{name: "before", before: true,
		about: "a Schedule per host for its report and each periodic task (the -before commit, its defaults)"},
	{name: "topic-old-spacings",
		settings: []string{"COMPUTE_SYNC_POWER_STATE_INTERVAL=60s", "COMPUTE_REAP_DELETED_INTERVAL=5m"},
		about:    "a Schedule per topic, liveness from worker heartbeats; the previous spacings (60 s, 60 s, 5 min)"},
	{name: "topic",
		about: "a Schedule per topic, liveness from worker heartbeats; nova's spacings (60 s, 600 s, 1800 s): the defaults"},
	{name: "topic-no-heartbeats", drop: []string{"frontend.WorkerHeartbeatsEnabled", "frontend.ListWorkersEnabled"},
		about: "the defaults on a server without worker heartbeats (the preview flags off): reports ask each host with an activity"},
}

// hkRow is what one design cost in its window.
type hkRow struct {
	design                    hkDesign
	hosts                     int
	window                    time.Duration
	actions, persistence      float64
	rowWrites, commits        float64
	serviceRowWrites          float64 // of the services table alone
	executions                int64
	connections               int // PostgreSQL connections open at the window's end
	serverCPU                 time.Duration
	up, down, unknown         int
	persistenceIdleSubtracted bool
}

func runHousekeeping(ctx context.Context, args []string) error {
	_, err := housekeeping(ctx, args)
	return err
}

// housekeeping runs the designs args choose and prints their table; it
// returns their rows.
func housekeeping(ctx context.Context, args []string) ([]hkRow, error) {
	fs := flag.NewFlagSet("housekeeping", flag.ContinueOnError)
	var so serverOptions
	so.register(fs)
	hosts := fs.Int("hosts", 50, "compute hosts, each its own `novaflow run compute` process (fake driver)")
	window := fs.Duration("window", 3*time.Minute, "measured window, after every host has started and warm-up")
	warmup := fs.Duration("warmup", 70*time.Second, "wait after the last host started before measuring")
	idle := fs.Duration("idle", time.Minute, "window of the idle server whose persistence requests are subtracted (0: none)")
	before := fs.String("before", "", "git revision of the per-host design to compare against (design before); empty: leave it out")
	only := fs.String("designs", "", "comma-separated designs to run (default: all; before needs -before)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}

	var designs []hkDesign
	for _, d := range hkDesigns {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), d.name) {
			continue
		}
		if d.before && *before == "" {
			progress("design %s left out: no -before revision", d.name)
			continue
		}
		designs = append(designs, d)
	}
	if len(designs) == 0 {
		return nil, errors.New("no design to run (-designs, -before)")
	}

	dir, err := os.MkdirTemp("", "novaflow-bench-hk-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	after := filepath.Join(dir, "novaflow-after")
	progress("building novaflow")
	if err := goBuild(ctx, ".", after); err != nil {
		return nil, err
	}
	var beforeBin string
	if *before != "" && slices.ContainsFunc(designs, func(d hkDesign) bool { return d.before }) {
		beforeBin = filepath.Join(dir, "novaflow-before")
		if err := buildAt(ctx, *before, filepath.Join(dir, "src-before"), beforeBin); err != nil {
			return nil, err
		}
	}

	var baseline float64 // persistence requests per second of an idle server
	if *idle > 0 {
		srv, err := startServer(ctx, so)
		if err != nil {
			return nil, err
		}
		progress("idle server for %s: its own persistence requests", *idle)
		time.Sleep(5 * time.Second)
		p0 := srv.counter("persistence_requests", "")
		time.Sleep(*idle)
		baseline = (srv.counter("persistence_requests", "") - p0) / idle.Seconds()
		srv.stop()
	}

	var rows []hkRow
	for _, d := range designs {
		bin := after
		if d.before {
			bin = beforeBin
		}
		row, err := measureHousekeeping(ctx, so, d, bin, *hosts, *warmup, *window)
		if err != nil {
			return rows, fmt.Errorf("design %s: %w", d.name, err)
		}
		row.persistence -= baseline * row.window.Seconds()
		row.persistenceIdleSubtracted = *idle > 0
		rows = append(rows, row)
		printHousekeeping(os.Stdout, rows[len(rows)-1:], false)
	}
	fmt.Printf("\n%d compute hosts (fake driver, each its own process), window %s after %s warm-up; %s; idle server %.2f persistence requests/s subtracted\n\n",
		*hosts, *window, *warmup, so.describe(), baseline)
	printHousekeeping(os.Stdout, rows, true)
	return rows, nil
}

// measureHousekeeping runs hosts compute hosts of design d on a fresh server
// and PostgreSQL, and measures one window.
func measureHousekeeping(ctx context.Context, so serverOptions, d hkDesign, bin string, hosts int, warmup, window time.Duration) (hkRow, error) {
	row := hkRow{design: d, hosts: hosts, window: window}
	so.dropKeys = d.drop
	st := &stack{bin: bin}
	var err error
	if st.dir, err = os.MkdirTemp("", "novaflow-bench-hk-run-"); err != nil {
		return row, err
	}
	defer os.RemoveAll(st.dir)
	if st.srv, st.pg, st.tc, err = startServerPostgresClient(ctx, so); err != nil {
		return row, err
	}
	defer func() { st.tc.Close(); st.pg.stop(); st.srv.stop() }()

	progress("%s: starting %d hosts", d.name, hosts)
	procs := make([]*service, hosts)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 8)
	for i := range procs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := st.run("compute", fmt.Sprintf("hk-%04d", i+1), append([]string{"LOG_LEVEL=warn"}, d.settings...)...)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			procs[i] = p
		}()
		if i == 0 {
			wg.Wait()
			// The first one migrates the database before the others start.
			_ = waitEvery(ctx, time.Minute, 200*time.Millisecond, func() bool {
				return strings.Contains(procs[0].output(), "service started")
			})
		}
	}
	wg.Wait()
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.term()
			}
		}
	}()
	if firstErr != nil {
		return row, firstErr
	}
	pool, err := db.Open(ctx, st.pg.url)
	if err != nil {
		return row, err
	}
	defer pool.Close()
	store := servicegroup.NewStore(pool)
	if err := waitEvery(ctx, 3*time.Minute, time.Second, func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM services WHERE topic = 'compute' AND NOT deleted`).Scan(&n)
		return err == nil && n == hosts
	}); err != nil {
		out := procs[0].output()
		return row, fmt.Errorf("not all %d hosts registered: %w; the first host's output:\n%s", hosts, err, out[max(0, len(out)-2000):])
	}
	progress("%s: all %d hosts started; warming up for %s", d.name, hosts, warmup)
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return row, ctx.Err()
	}

	from := time.Now()
	a0, p0 := st.srv.counter("action", `namespace="default"`), st.srv.counter("persistence_requests", "")
	w0, sv0, c0, err := pgWrites(ctx, pool)
	if err != nil {
		return row, err
	}
	cpu0 := procCPU(st.srv.pid())
	progress("%s: measuring for %s", d.name, window)
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return row, ctx.Err()
	}
	row.actions = st.srv.counter("action", `namespace="default"`) - a0
	row.persistence = st.srv.counter("persistence_requests", "") - p0
	w1, sv1, c1, err := pgWrites(ctx, pool)
	if err != nil {
		return row, err
	}
	row.rowWrites, row.serviceRowWrites, row.commits = w1-w0, sv1-sv0, c1-c0
	row.serverCPU = procCPU(st.srv.pid()) - cpu0
	to := from.Add(window)
	resp, err := st.tc.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Namespace: "default",
		Query:     fmt.Sprintf("StartTime >= '%s' AND StartTime < '%s'", from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano)),
	})
	if err != nil {
		return row, fmt.Errorf("count the window's workflow executions: %w", err)
	}
	row.executions = resp.GetCount()
	if err := pool.QueryRow(ctx, `SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database()`).Scan(&row.connections); err != nil {
		return row, err
	}
	recs, now, err := store.List(ctx, servicegroup.Filter{Topic: "compute"})
	if err != nil {
		// The schema of before has no service_observers: nova's rule alone.
		err = pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE now() - coalesce(last_seen_up, created_at) <= $1),
			count(*) FILTER (WHERE now() - coalesce(last_seen_up, created_at) > $1)
			FROM services WHERE topic = 'compute' AND NOT deleted`, servicegroup.DefaultServiceDownTime).Scan(&row.up, &row.down)
		return row, err
	}
	cfgDown := servicegroup.DownTime(servicegroup.DefaultServiceDownTime, 10*time.Second)
	for _, r := range recs {
		switch st := servicegroup.Status(r, now, cfgDown); st {
		case servicegroup.Up:
			row.up++
		default:
			if st == servicegroup.Down {
				row.down++
			} else {
				row.unknown++
			}
			exited := "running"
			for _, p := range procs {
				if p != nil && strings.Contains(strings.Join(p.cmd.Env, " "), "NOVAFLOW_HOST="+r.Host+" ") {
					select {
					case <-p.done:
						exited = "exited: " + p.output()[max(0, len(p.output())-500):]
					default:
					}
				}
			}
			progress("%s: %s on %s is %s (last seen up %v, %s ago; process %s)", d.name, r.Binary, r.Host, st, r.LastSeenUp, now.Sub(*r.LastSeenUp), exited)
		}
	}
	return row, nil
}

// pgWrites reads the rows written (inserted, updated, deleted), those of the
// services table alone, and the transactions committed in the database so
// far.
func pgWrites(ctx context.Context, pool *pgxpool.Pool) (rows, services, commits float64, err error) {
	err = pool.QueryRow(ctx, `SELECT tup_inserted + tup_updated + tup_deleted, xact_commit,
		(SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relname = 'services')
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&rows, &commits, &services)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read pg_stat_database: %w", err)
	}
	// The statistics of this backend's own transactions are flushed at its
	// next idle moment; ask for a fresh snapshot.
	_, _ = pool.Exec(ctx, `SELECT pg_stat_clear_snapshot()`)
	return rows, services, commits, nil
}

func printHousekeeping(out *os.File, rows []hkRow, header bool) {
	if header {
		fmt.Fprintln(out, "| design | hosts up/down/unknown | actions/s per host | persistence req/s per host | SQL rows written/s per host (services table) | SQL commits/s per host | executions per host per 10 min | executions per 10 min (all) | PostgreSQL connections | server CPU |")
		fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|")
	}
	for _, r := range rows {
		per := func(v float64) float64 { return v / r.window.Seconds() / float64(r.hosts) }
		tenMin := float64(r.executions) / r.window.Minutes() * 10
		fmt.Fprintf(out, "| %s | %d/%d/%d | %.4f | %.3f | %.4f (%.4f) | %.4f | %.2f | %.0f | %d | %.2f cores |\n",
			r.design.name, r.up, r.down, r.unknown, per(r.actions), per(r.persistence), per(r.rowWrites), per(r.serviceRowWrites), per(r.commits),
			tenMin/float64(r.hosts), tenMin, r.connections, r.serverCPU.Seconds()/r.window.Seconds())
	}
	if header {
		fmt.Fprintln(out)
		for _, r := range rows {
			fmt.Fprintf(out, "- %s: %s\n", r.design.name, r.design.about)
		}
	}
}

// goBuild builds the novaflow command into out: this module's when dir is
// ".", wherever the caller runs in it, else the module's in dir.
func goBuild(ctx context.Context, dir, out string) error {
	pkg := "./cmd/novaflow"
	if dir == "." {
		pkg = "github.com/novaflow/novaflow/cmd/novaflow"
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w", pkg, dir, err)
	}
	return nil
}

// buildAt builds ./cmd/novaflow as it was at git revision rev, in a worktree
// at dir that it removes afterwards.
func buildAt(ctx context.Context, rev, dir, out string) error {
	progress("building ./cmd/novaflow at %s", rev)
	add := exec.CommandContext(ctx, "git", "worktree", "add", "--detach", dir, rev)
	add.Stdout, add.Stderr = os.Stderr, os.Stderr
	if err := add.Run(); err != nil {
		return fmt.Errorf("git worktree add %s (run from the repository): %w", rev, err)
	}
	defer exec.Command("git", "worktree", "remove", "--force", dir).Run()
	return goBuild(ctx, dir, out)
}
