package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/servicegroup"
)

// stack is a server, PostgreSQL and the novaflow binary, for the commands
// that run services as their own processes.
type stack struct {
	srv *server
	pg  *postgres
	bin string // the novaflow binary, built from ./cmd/novaflow
	dir string // working folder of the service processes
	tc  client.Client
}

// buildDescription says how startStack builds the binary.
func buildDescription(release bool) string {
	if release {
		return "CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' (as deploy/docker/Dockerfile)"
	}
	return "go build (the toolchain's defaults)"
}

// startStack builds ./cmd/novaflow, as shipped when release is set, and
// starts a Temporal server as so says and a PostgreSQL cluster.
func startStack(ctx context.Context, so serverOptions, release bool) (*stack, error) {
	s := &stack{}
	dir, err := os.MkdirTemp("", "novaflow-bench-bin-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	s.bin = filepath.Join(dir, "novaflow")
	args := []string{"build", "-o", s.bin}
	if release {
		// As deploy/docker/Dockerfile builds what ships: static, stripped.
		args = append(args, "-trimpath", "-buildvcs=false", "-ldflags=-s -w")
	}
	progress("building ./cmd/novaflow: %s", buildDescription(release))
	build := exec.CommandContext(ctx, "go", append(args, "./cmd/novaflow")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if release {
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if err := build.Run(); err != nil {
		s.close()
		return nil, fmt.Errorf("go build ./cmd/novaflow (run from the module's root): %w", err)
	}
	if s.srv, err = startServer(ctx, so); err != nil {
		s.close()
		return nil, err
	}
	if s.pg, err = startPostgres(ctx); err != nil {
		s.close()
		return nil, err
	}
	if s.tc, err = s.srv.dial(ctx, nil); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *stack) close() {
	if s.tc != nil {
		s.tc.Close()
	}
	if s.pg != nil {
		s.pg.stop()
	}
	if s.srv != nil {
		s.srv.stop()
	}
	os.RemoveAll(s.dir)
}

// env is the environment of a novaflow process on host with settings
// (NAME=value without the NOVAFLOW_ prefix).
func (s *stack) env(host string, settings ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOVAFLOW_") && !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	env = append(env, "NOVAFLOW_HOST="+host, "NOVAFLOW_TEMPORAL_ADDRESS="+s.srv.addr, "NOVAFLOW_DATABASE_URL="+s.pg.url,
		"NOVAFLOW_COMPUTE_DRIVER=fake", "NOVAFLOW_LOG_LEVEL=info")
	for _, kv := range settings {
		env = append(env, "NOVAFLOW_"+kv)
	}
	return env
}

// service is a running `novaflow run <topic>`.
type service struct {
	cmd     *exec.Cmd
	started time.Time
	mu      sync.Mutex
	lines   []timedLine
	done    chan struct{}
}

type timedLine struct {
	at   time.Duration
	text string
}

// run starts `novaflow run topic` on host.
func (s *stack) run(topic, host string, settings ...string) (*service, error) {
	cmd := exec.Command(s.bin, "run", topic)
	cmd.Env = s.env(host, settings...)
	cmd.Dir = s.dir // no dev stack to find here
	setDeathSignal(cmd)
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	p := &service{cmd: cmd, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, timedLine{time.Since(p.started), sc.Text()})
			p.mu.Unlock()
		}
	}()
	go func() {
		cmd.Wait()
		w.Close()
		close(p.done)
	}()
	return p, nil
}

// lineAt is when the first output line containing text came, or -1.
func (p *service) lineAt(text string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if strings.Contains(l.text, text) {
			return l.at
		}
	}
	return -1
}

func (p *service) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines {
		fmt.Fprintf(&b, "%8s %s\n", l.at.Round(time.Millisecond), l.text)
	}
	return b.String()
}

func (p *service) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *service) term() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
	}
}

// polling reports whether a worker of host polls task queue q.
func (s *stack) polling(ctx context.Context, q, host string) bool {
	resp, err := s.tc.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace: "default", TaskQueue: &taskqueue.TaskQueue{Name: q, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
	})
	if err != nil {
		return false
	}
	for _, p := range resp.GetPollers() {
		if strings.HasSuffix(p.GetIdentity(), "@"+host) {
			return true
		}
	}
	return false
}

func runFootprint(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("footprint", flag.ExitOnError)
	var so serverOptions
	so.register(fs)
	runs := fs.Int("runs", 5, "service starts measured")
	idle := fs.Duration("idle", 30*time.Second, "how long the service idles before its RSS is read")
	release := fs.Bool("release", true, "build the binary as deploy/docker/Dockerfile does (static, stripped); false: plain go build")
	fs.Parse(args)
	st, err := startStack(ctx, so, *release)
	if err != nil {
		return err
	}
	defer st.close()

	// The first start migrates the database; measure the later ones.
	first, err := st.run("compute", "warm-0")
	if err != nil {
		return err
	}
	if err := waitUntil(ctx, time.Minute, func() bool { return first.lineAt("service started") >= 0 }); err != nil {
		return fmt.Errorf("first service did not start: %w\n%s", err, first.output())
	}
	first.term()

	out := os.Stdout
	header(out, "Footprint: one idle service, and start-up",
		"server: "+so.describe(),
		"the binary: "+buildDescription(*release),
		"the service: `novaflow run <topic>` built from ./cmd/novaflow, default settings, compute with the fake driver; the database already migrated",
		fmt.Sprintf("time to polling: from exec until DescribeTaskQueue lists the host's poller on <topic>.<host> (polled every 5 ms); %d starts", *runs))
	type startup struct{ poll, started time.Duration }
	var starts []startup
	var pollLat, startedLat latencies
	for i := range *runs {
		host := fmt.Sprintf("fp-%d", i+1)
		p, err := st.run("compute", host)
		if err != nil {
			return err
		}
		t := time.Now()
		var poll time.Duration = -1
		for time.Since(t) < 30*time.Second && poll < 0 {
			if st.polling(ctx, "compute."+host, host) {
				poll = time.Since(p.started)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := waitUntil(ctx, 30*time.Second, func() bool { return p.lineAt("service started") >= 0 }); err != nil {
			return fmt.Errorf("service %s did not start: %w\n%s", host, err, p.output())
		}
		s := startup{poll: poll, started: p.lineAt("service started")}
		starts = append(starts, s)
		pollLat.add(s.poll)
		startedLat.add(s.started)
		progress("start %d: polling after %s, started after %s", i+1, s.poll.Round(time.Millisecond), s.started.Round(time.Millisecond))
		if i < *runs-1 {
			p.term()
			continue
		}
		// The last one idles, then its memory is read.
		progress("idling for %s", *idle)
		rss := map[string]int64{}
		rss["compute"] = idleRSS(ctx, p, *idle)
		anon, file := procStatus(p.cmd.Process.Pid, "RssAnon"), procStatus(p.cmd.Process.Pid, "RssFile")
		p.term()
		for _, topic := range []string{"scheduler", "conductor"} {
			q, err := st.run(topic, "fp-"+topic)
			if err != nil {
				return err
			}
			if err := waitUntil(ctx, 30*time.Second, func() bool { return q.lineAt("service started") >= 0 }); err != nil {
				return fmt.Errorf("%s did not start: %w\n%s", topic, err, q.output())
			}
			rss[topic] = idleRSS(ctx, q, *idle)
			q.term()
		}
		fmt.Fprintln(out, "| start | exec to polling (ms) | exec to \"service started\" logged (ms) |")
		fmt.Fprintln(out, "|---|---|---|")
		for j, s := range starts {
			fmt.Fprintf(out, "| %d | %.0f | %.0f |\n", j+1, float64(s.poll)/1e6, float64(s.started)/1e6)
		}
		fmt.Fprintf(out, "| p50 | %.0f | %.0f |\n\n", float64(pollLat.summary().p50)/1e6, float64(startedLat.summary().p50)/1e6)
		fmt.Fprintf(out, "Log of the last start (time since exec):\n\n```\n%s```\n\n", p.output())
		fmt.Fprintf(out, "| service, idle %s after start (largest RSS seen) | RSS MiB | RSS MB | target |\n", *idle)
		fmt.Fprintln(out, "|---|---|---|---|")
		for _, topic := range []string{"compute", "scheduler", "conductor"} {
			fmt.Fprintf(out, "| novaflow run %s | %.1f | %.1f | <= 40 MB |\n", topic, float64(rss[topic])/(1<<20), float64(rss[topic])/1e6)
		}
		fmt.Fprintln(out)
		var binSize int64
		if fi, err := os.Stat(st.bin); err == nil {
			binSize = fi.Size()
		}
		fmt.Fprintf(out, "compute's RSS at the end of its idle time: %.1f MiB anonymous (heap, stacks), %.1f MiB of mapped files (the %.0f MiB binary's pages in use).\n\n",
			float64(anon)/(1<<20), float64(file)/(1<<20), float64(binSize)/(1<<20))
	}
	fmt.Fprintf(out, "load average (1 min) at end: %s\n\n", loadAvg())
	return nil
}

// idleRSS waits d and returns the largest RSS of p seen meanwhile.
func idleRSS(ctx context.Context, p *service, d time.Duration) int64 {
	var peak int64
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		peak = max(peak, procRSS(p.cmd.Process.Pid))
		time.Sleep(500 * time.Millisecond)
	}
	return max(peak, procRSS(p.cmd.Process.Pid))
}

func waitUntil(ctx context.Context, d time.Duration, cond func() bool) error {
	return waitEvery(ctx, d, 5*time.Millisecond, cond)
}

// waitEvery waits up to d for cond, checking it every step.
func waitEvery(ctx context.Context, d, step time.Duration, cond func() bool) error {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return fmt.Errorf("waited %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(step):
		}
	}
	return nil
}

func runLiveness(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("liveness", flag.ExitOnError)
	var so serverOptions
	so.register(fs)
	runs := fs.Int("runs", 3, "kills per setting")
	tuned := fs.String("tuned", "REPORT_INTERVAL=2s,SERVICE_DOWN_TIME=5s", "the tuned settings, NAME=value without NOVAFLOW_, comma-separated")
	release := fs.Bool("release", true, "build the binary as deploy/docker/Dockerfile does (static, stripped); false: plain go build")
	fs.Parse(args)
	st, err := startStack(ctx, so, *release)
	if err != nil {
		return err
	}
	defer st.close()
	pool, err := db.Open(ctx, st.pg.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := servicegroup.NewStore(pool)

	settings := []struct {
		name     string
		kv       []string
		downTime time.Duration
	}{
		{"default (report_interval 10s, service_down_time 25s)", nil, servicegroup.DownTime(25*time.Second, 10*time.Second)},
	}
	if *tuned != "" {
		kv := strings.Split(*tuned, ",")
		ri, dt := 10*time.Second, 25*time.Second
		for _, x := range kv {
			k, v, _ := strings.Cut(x, "=")
			d, err := time.ParseDuration(v)
			switch {
			case err != nil:
			case k == "REPORT_INTERVAL":
				ri = d
			case k == "SERVICE_DOWN_TIME":
				dt = d
			}
		}
		settings = append(settings, struct {
			name     string
			kv       []string
			downTime time.Duration
		}{"tuned (" + strings.Join(kv, ", ") + ")", kv, servicegroup.DownTime(dt, ri)})
	}

	out := os.Stdout
	header(out, "Liveness: SIGKILL of a service to `down`",
		"server: "+so.describe(),
		"the binary: "+buildDescription(*release),
		"the service: `novaflow run compute` (fake driver) as its own process; killed with SIGKILL once it has reported at least twice",
		"`down` in the table: the services row read every 100 ms with nova's is_up rule; in `service list`: `novaflow service list --json --host <host>` run every 500 ms with the same settings")
	fmt.Fprintln(out, "| settings | kill | down in the table after (s) | down in `service list` after (s) | since the last report (s) |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	for _, set := range settings {
		var tbl, lst latencies
		for i := range *runs {
			host := fmt.Sprintf("live-%d", i+1)
			if strings.HasPrefix(set.name, "tuned") {
				host = fmt.Sprintf("live-tuned-%d", i+1)
			}
			p, err := st.run("compute", host, set.kv...)
			if err != nil {
				return err
			}
			up := func() (bool, servicegroup.Record) {
				recs, now, err := store.List(ctx, servicegroup.Filter{Host: host})
				if err != nil || len(recs) != 1 {
					return false, servicegroup.Record{}
				}
				return servicegroup.IsUp(recs[0], now, set.downTime), recs[0]
			}
			if err := waitEvery(ctx, time.Minute, 100*time.Millisecond, func() bool { ok, r := up(); return ok && r.ReportCount >= 2 }); err != nil {
				return fmt.Errorf("service %s not up: %w\n%s", host, err, p.output())
			}
			// Kill at a random point of the report interval, as a crash would.
			time.Sleep(time.Duration(rand.Int64N(int64(set.downTime * 2 / 5))))
			_, before := up()
			killed := time.Now()
			p.kill()
			var tblAt, lstAt time.Duration
			listDone := make(chan struct{})
			go func() {
				defer close(listDone)
				for time.Since(killed) < set.downTime+time.Minute {
					if listShowsDown(ctx, st, host, set.kv) {
						lstAt = time.Since(killed)
						return
					}
					time.Sleep(500 * time.Millisecond)
				}
			}()
			if err := waitEvery(ctx, set.downTime+time.Minute, 100*time.Millisecond, func() bool { ok, _ := up(); return !ok }); err != nil {
				return fmt.Errorf("service %s never went down: %w", host, err)
			}
			tblAt = time.Since(killed)
			<-listDone
			var sinceReport time.Duration
			if before.LastSeenUp != nil {
				sinceReport = killed.Sub(*before.LastSeenUp)
			}
			tbl.add(tblAt)
			lst.add(lstAt)
			progress("%s kill %d: down in the table after %.1f s, in service list after %.1f s (last report %.1f s before the kill)",
				set.name, i+1, tblAt.Seconds(), lstAt.Seconds(), sinceReport.Seconds())
			fmt.Fprintf(out, "| %s | %d | %.1f | %.1f | %.1f |\n", set.name, i+1, tblAt.Seconds(), lstAt.Seconds(), sinceReport.Seconds())
		}
		fmt.Fprintf(out, "| %s | max | %.1f | %.1f | |\n", set.name, tbl.summary().max.Seconds(), lst.summary().max.Seconds())
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "load average (1 min) at end: %s\n\n", loadAvg())
	return nil
}

// listShowsDown runs `novaflow service list --json --host host` with the
// settings and reports whether it shows the compute service down.
func listShowsDown(ctx context.Context, st *stack, host string, settings []string) bool {
	cmd := exec.CommandContext(ctx, st.bin, "service", "list", "--json", "--host", host)
	cmd.Env = st.env(host, settings...)
	cmd.Dir = st.dir
	b, err := cmd.Output()
	if err != nil {
		return false
	}
	var rows []struct {
		Binary string `json:"binary"`
		State  string `json:"state"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		return false
	}
	for _, r := range rows {
		if r.State == "down" {
			return true
		}
	}
	return false
}
