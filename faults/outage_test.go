//go:build faults && linux

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/managers/conductor"
	"github.com/novaflow/novaflow/servicegroup"
)

// listedService is one row of `novaflow service list --json`.
type listedService struct {
	servicegroup.Record
	State string `json:"state"`
}

func (v listedService) String() string {
	seen, observed := "never", "never"
	if v.LastSeenUp != nil {
		seen = v.LastSeenUp.UTC().Format("15:04:05.000")
	}
	if v.Observer != nil {
		observed = v.Observer.ObservedAt.UTC().Format("15:04:05.000")
	}
	return fmt.Sprintf("%s on %s: %s (last seen up %s, topic last observed %s)", v.Binary, v.Host, v.State, seen, observed)
}

// serviceLister runs `novaflow service list` against a stack, as an
// operator would: the novaflow binary with the stack's database and
// Temporal server and the services' report_interval and service_down_time.
type serviceLister struct {
	t   *testing.T
	bin string
	env map[string]string
}

// list runs `novaflow service list --json` and returns its rows and how long
// it took. The test fails if the command fails or runs for a minute.
func (l serviceLister) list() ([]listedService, time.Duration) {
	l.t.Helper()
	began := time.Now()
	code, stdout, stderr := runNovaflow(l.t, l.bin, l.env, time.Minute, "service", "list", "--json")
	took := time.Since(began)
	if code != 0 {
		l.t.Fatalf("novaflow service list --json: exit code %d\nstderr: %s", code, stderr)
	}
	var rows []listedService
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		l.t.Fatalf("novaflow service list --json: %v\n%s", err, stdout)
	}
	return rows, took
}

// table runs `novaflow service list` and returns the table it prints.
func (l serviceLister) table() string {
	l.t.Helper()
	code, stdout, stderr := runNovaflow(l.t, l.bin, l.env, time.Minute, "service", "list")
	if code != 0 {
		l.t.Fatalf("novaflow service list: exit code %d\nstderr: %s", code, stderr)
	}
	return stdout
}

// states counts rows by state.
func states(rows []listedService) map[string]int {
	n := map[string]int{}
	for _, r := range rows {
		n[r.State]++
	}
	return n
}

// wrongStates collects the rows a phase saw in a state they must not be in,
// one entry per service (the first sighting and how many), so that a
// failure says what happened without a line per poll.
type wrongStates struct {
	keys  []string
	first map[string]string
	n     map[string]int
}

func (w *wrongStates) add(when, what string) {
	if w.first == nil {
		w.first, w.n = map[string]string{}, map[string]int{}
	}
	key := what[:strings.IndexByte(what, ':')+1] // "binary on host:"
	if w.n[key] == 0 {
		w.keys = append(w.keys, key)
		w.first[key] = fmt.Sprintf("%s: %s", when, what)
	}
	w.n[key]++
}

// report fails the test with one line per service, if any.
func (w *wrongStates) report(t *testing.T, phase string) {
	t.Helper()
	for _, key := range w.keys {
		t.Errorf("%s, %d times; first %s", phase, w.n[key], w.first[key])
	}
}

// since formats d, or "never" when it is negative (it did not happen).
func since(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}

// temporalPID returns the pid of the stack's Temporal dev server: the child
// of this test process running `temporal server start-dev` on the port of
// its address (devstack.Temporal does not expose its process).
func (s *stack) temporalPID() int {
	s.t.Helper()
	_, port, err := net.SplitHostPort(s.tmp.Address())
	if err != nil {
		s.t.Fatal(err)
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _ := procState(pid); ppid != os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
		startDev, onPort := false, false
		for i, a := range args {
			startDev = startDev || a == "start-dev"
			onPort = onPort || (a == "--port" && i+1 < len(args) && args[i+1] == port)
		}
		if startDev && onPort {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 1 {
		s.t.Fatalf("Temporal dev server on port %s: found processes %v, want one", port, pids)
	}
	return pids[0]
}

// procState returns the parent pid and the state letter of process pid
// (0 and 0 when it cannot be read).
func procState(pid int) (ppid int, state byte) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 2 {
		return 0, 0
	}
	ppid, _ = strconv.Atoi(fields[1])
	return ppid, fields[0][0]
}

// freezeTemporal stops the Temporal dev server with SIGSTOP: its process
// and sockets stay, connections to it are accepted by the kernel and never
// answered, as with a server that hangs or a network that drops packets.
// It returns the server's pid and a function that resumes it with SIGCONT
// (also called when the test ends, so that the server can be stopped).
func (s *stack) freezeTemporal() (int, func()) {
	s.t.Helper()
	pid := s.temporalPID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		s.t.Fatalf("SIGSTOP Temporal (pid %d): %v", pid, err)
	}
	var once sync.Once
	resume := func() {
		once.Do(func() {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				s.t.Errorf("SIGCONT Temporal (pid %d): %v", pid, err)
			}
		})
	}
	s.t.Cleanup(resume)
	s.eventually(10*time.Second, "Temporal stopped by SIGSTOP", func() bool {
		_, st := procState(pid)
		return st == 'T'
	})
	return pid, resume
}

// downWatch judges every service of a stack with servicegroup.Status from
// the database, every 200 ms, and records each time a service shows down:
// a finer sampling of the rule `service list` applies, so that a short
// false "down" does not fall between two runs of the binary.
type downWatch struct {
	mu    sync.Mutex
	downs []string
	polls int
	stop  chan struct{}
	done  chan struct{}
}

func (s *stack) watchDown(downTime time.Duration) *downWatch {
	w := &downWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			recs, now, err := s.services.List(ctx, servicegroup.Filter{})
			cancel()
			w.mu.Lock()
			if err == nil {
				w.polls++
				for _, r := range recs {
					if st := servicegroup.Status(r, now, downTime); st == servicegroup.Down {
						w.downs = append(w.downs, fmt.Sprintf("%s: %s", now.UTC().Format("15:04:05.000"), listedService{r, string(st)}))
					}
				}
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// end stops the watch and returns what it saw down, and how many times it
// looked.
func (w *downWatch) end() ([]string, int) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.downs, w.polls
}

// TestRestartTemporalOutageShowsUnknownNotDown freezes the file-backed
// Temporal dev server (SIGSTOP) for 60 s under a cloud of processes (three
// fake compute hosts, a scheduler, a conductor) at the default
// report_interval (10 s) and service_down_time (25 s):
//   - during the freeze `novaflow service list` answers from PostgreSQL
//     within a few seconds, never shows a live service down, shows every
//     service unknown once service_down_time has passed since its topic's
//     last report, and its table says under it that the topic is not seen;
//   - after SIGCONT every service is up again within one report interval
//     (plus 5 s), none shows down in the service_down_time that follows, and
//     a build started at once succeeds;
//   - control: a compute host SIGKILLed afterwards shows down within 30 s
//     while the others stay up, so the test tells "unknown" from "down".
func TestRestartTemporalOutageShowsUnknownNotDown(t *testing.T) {
	const (
		reportInterval = 10 * time.Second
		downTime       = 25 * time.Second // effective: max(25 s, 2.5 x 10 s)
		freeze         = 60 * time.Second
		listDeadline   = 5 * time.Second                // "answers within a few seconds"
		upAgainWithin  = reportInterval + 5*time.Second // after SIGCONT
		killedDownBy   = 30 * time.Second
		listEvery      = 500 * time.Millisecond // pace of the polls, not an assertion
	)
	bin := buildNovaflow(t)
	// The stack's defaults (reports every 1 s, down after 5 s) are for
	// tests that need services to go down fast; this one checks what an
	// operator sees at the production defaults, which the documented
	// figures (docs/schedules.md, Liveness) are about.
	s := newStack(t, stackOptions{fileTemporal: true, serviceDownTime: downTime.String()})
	defaults := func(extra map[string]string) map[string]string {
		env := map[string]string{"NOVAFLOW_REPORT_INTERVAL": reportInterval.String()}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	hosts := []string{"node-a", "node-b", "node-c"}
	for _, h := range hosts {
		s.start("compute", h, defaults(map[string]string{
			"NOVAFLOW_COMPUTE_DRIVER":         "fake",
			"NOVAFLOW_COMPUTE_DRIVER_OPTIONS": "vcpus:64,memory_mb:65536,disk_gb:1000",
		}))
	}
	s.start("scheduler", "sched-1", defaults(nil))
	s.start("conductor", "cond-1", defaults(nil))
	topics := []string{"compute", "conductor", "scheduler"}
	lister := serviceLister{t: t, bin: bin, env: map[string]string{
		"NOVAFLOW_DATABASE_URL":       s.dbURL,
		"NOVAFLOW_TEMPORAL_ADDRESS":   s.tmp.Address(),
		"NOVAFLOW_TEMPORAL_NAMESPACE": s.tmp.Namespace(),
		"NOVAFLOW_REPORT_INTERVAL":    reportInterval.String(),
		"NOVAFLOW_SERVICE_DOWN_TIME":  downTime.String(),
	}}

	// Before: a build goes through, and every topic's report has seen all
	// its services.
	req, _ := buildRequest("before-outage", "/bin/true")
	waitBuilds(t, []client.WorkflowRun{s.startBuild("build-before-outage", req)})
	s.eventually(6*reportInterval, "a status report of every topic that saw all its services", func() bool {
		recs, now, err := s.services.List(context.Background(), servicegroup.Filter{})
		if err != nil || len(recs) != len(s.procs) {
			return false
		}
		perTopic := map[string]int{}
		for _, r := range recs {
			perTopic[r.Topic]++
		}
		for _, r := range recs {
			if r.Observer == nil || r.Observer.Seen != perTopic[r.Topic] || servicegroup.Status(r, now, downTime) != servicegroup.Up {
				return false
			}
		}
		return true
	})
	rows, took := lister.list()
	if n := states(rows); n["up"] != len(s.procs) {
		t.Fatalf("before the outage: service list shows %v, want %d up", n, len(s.procs))
	}
	t.Logf("before the outage: %d services up; service list took %s", len(rows), took.Round(time.Millisecond))
	for _, r := range rows {
		if o := r.Observer; o != nil && o.LastBeforeGap != nil {
			// Not this test's subject, but worth knowing: the reports of a
			// topic stopped for longer than service_down_time already.
			t.Logf("note: before the outage, the reports of topic %s (%s) had a gap: none from %s to %s",
				r.Topic, r.Host, o.LastBeforeGap.UTC().Format("15:04:05.000"), o.ObservingSince.UTC().Format("15:04:05.000"))
		}
	}

	// The outage: Temporal frozen for 60 s.
	watch := s.watchDown(downTime)
	pid, resume := s.freezeTemporal()
	frozeAt := time.Now()
	t.Logf("Temporal dev server (pid %d) frozen with SIGSTOP for %s", pid, freeze)
	var (
		firstUnknown, allUnknown time.Duration = -1, -1
		firstUnknownRow          listedService
		slowest                  time.Duration
		lists                    int
		tableChecked             bool
		lastObserved             = map[string]time.Time{}
		downInOutage, upTooLong  wrongStates
	)
	for time.Since(frozeAt) < freeze {
		began := time.Now()
		rows, took := lister.list()
		lists++
		slowest = max(slowest, took)
		if took > listDeadline {
			t.Errorf("%s into the outage: service list took %s, want at most %s", began.Sub(frozeAt).Round(time.Second), took.Round(time.Millisecond), listDeadline)
		}
		if len(rows) != len(s.procs) {
			t.Fatalf("%s into the outage: service list shows %d services, want %d:\n%s", began.Sub(frozeAt).Round(time.Second), len(rows), len(s.procs), prettyJSON(rows))
		}
		unknown := 0
		for _, r := range rows {
			if r.Observer != nil {
				lastObserved[r.Topic] = r.Observer.ObservedAt
			}
			switch {
			case r.State == string(servicegroup.Down):
				downInOutage.add(since(began.Sub(frozeAt))+" into the outage", r.String())
			case r.State == string(servicegroup.Unknown):
				unknown++
				if firstUnknown < 0 {
					firstUnknown, firstUnknownRow = began.Sub(frozeAt), r
				}
			case r.Observer == nil || began.Sub(r.Observer.ObservedAt) > downTime+time.Second:
				// service_down_time has passed since the topic's last
				// report (by the list's clock, a little later than began).
				upTooLong.add(since(began.Sub(frozeAt))+" into the outage", r.String())
			}
		}
		if unknown == len(rows) && allUnknown < 0 {
			allUnknown = began.Sub(frozeAt)
		}
		// The line under the table, once every topic has gone without a
		// report for longer than service_down_time.
		stale := len(lastObserved) == len(topics)
		for _, at := range lastObserved {
			stale = stale && began.Sub(at) > downTime+time.Second
		}
		if stale && !tableChecked {
			tableChecked = true
			table := lister.table()
			for _, topic := range topics {
				if !strings.Contains(table, "topic "+topic+": not seen since ") {
					t.Errorf("service list: no line saying that topic %s is not seen:\n%s", topic, table)
				}
			}
			if !strings.Contains(table, "unknown, not down") {
				t.Errorf("service list does not say the services show unknown, not down:\n%s", table)
			}
			t.Logf("service list during the outage:\n%s", table)
		}
		time.Sleep(listEvery)
	}
	downInOutage.report(t, "a live service shown down by service list during the outage")
	upTooLong.report(t, fmt.Sprintf("a service not shown unknown by service list after its topic went %s without a report", downTime))
	if allUnknown < 0 || !tableChecked {
		t.Errorf("after %s of outage not every service shows unknown, or not every topic is %s without a report (topics last observed %v)", freeze, downTime, lastObserved)
	}

	// Back: SIGCONT, and a build at once.
	resume()
	resumedAt := time.Now()
	t.Logf("Temporal resumed with SIGCONT after %s", resumedAt.Sub(frozeAt).Round(time.Millisecond))
	type outcome struct {
		res  conductor.BuildResult
		err  error
		took time.Duration
	}
	built := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		req, u := buildRequest("after-outage", "/bin/true")
		run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: "build-after-outage-" + u, TaskQueue: conductor.Topic, WorkflowExecutionTimeout: 3 * time.Minute,
		}, conductor.BuildInstancesName, req)
		if err != nil {
			built <- outcome{err: fmt.Errorf("start: %w", err), took: time.Since(resumedAt)}
			return
		}
		res, err := buildOutcome(ctx, run)
		built <- outcome{res: res, err: err, took: time.Since(resumedAt)}
	}()

	// Every service up again within one report interval (+5 s); then none
	// down, nor back to unknown, in the service_down_time that follows,
	// while the first report after the gap decides who was seen again.
	allUp := time.Duration(-1)
	var lastRows []listedService
	var downAfter, notUpAgain wrongStates
	for time.Since(resumedAt) < downTime+reportInterval || allUp < 0 {
		began := time.Now()
		if allUp < 0 && began.Sub(resumedAt) > upAgainWithin {
			t.Errorf("not every service up %s after Temporal resumed: %v\n%s", upAgainWithin, states(lastRows), prettyJSON(lastRows))
			break
		}
		rows, took := lister.list()
		lastRows = rows
		slowest = max(slowest, took)
		if took > listDeadline {
			t.Errorf("%s after the resume: service list took %s, want at most %s", began.Sub(resumedAt).Round(time.Second), took.Round(time.Millisecond), listDeadline)
		}
		n := states(rows)
		for _, r := range rows {
			switch {
			case r.State == string(servicegroup.Down):
				downAfter.add(since(began.Sub(resumedAt))+" after the resume", r.String())
			case allUp >= 0 && r.State != string(servicegroup.Up):
				notUpAgain.add(since(began.Sub(resumedAt))+" after the resume", r.String())
			}
		}
		if allUp < 0 && n["up"] == len(s.procs) {
			allUp = began.Sub(resumedAt)
		}
		time.Sleep(listEvery)
	}
	downAfter.report(t, "a live service shown down by service list after Temporal resumed")
	notUpAgain.report(t, "a service no longer up after all were up again")
	downs, polls := watch.end()
	var judged wrongStates
	for _, d := range downs {
		at, what, _ := strings.Cut(d, ": ")
		judged.add("at "+at, what)
	}
	judged.report(t, "a live service judged down (servicegroup.Status on the database, at the time given)")
	t.Logf("%d judgements from the database during the outage and after, %d down", polls, len(downs))
	if table := lister.table(); strings.Contains(table, "not seen since") {
		t.Errorf("service list still says a topic is not seen:\n%s", table)
	}

	b := <-built
	switch {
	case b.err != nil:
		t.Errorf("build started at the resume: %v (after %s)", b.err, b.took.Round(time.Millisecond))
	case len(b.res.Instances) != 1 || b.res.Instances[0].VMState != "active":
		t.Errorf("build started at the resume: %+v", b.res)
	case len(b.res.Instances[0].Attempts) > 1:
		t.Errorf("build started at the resume took %d hosts: %+v", len(b.res.Instances[0].Attempts), b.res.Instances[0].Attempts)
	}
	s.checkRunning()
	first := "never"
	if firstUnknown >= 0 {
		first = fmt.Sprintf("%s into the outage (%s, its topic last observed %s before the freeze)",
			since(firstUnknown), firstUnknownRow, firstUnknownRow.observedBefore(frozeAt))
	}
	t.Logf("measured: outage %s; %d service lists, slowest %s; first unknown %s; all unknown %s into it; all up %s after the resume; the build started at the resume done after %s (on %s)",
		freeze, lists, slowest.Round(time.Millisecond), first, since(allUnknown), since(allUp), b.took.Round(time.Millisecond), hostOf(b.res))

	// Control: a host SIGKILLed while Temporal runs is down within 30 s,
	// the others stay up.
	victim := "node-c"
	s.procs[victim+"/compute"].kill(t)
	killedAt := time.Now()
	delete(s.procs, victim+"/compute")
	var killedDown time.Duration = -1
	var othersNotUp wrongStates
	for killedDown < 0 {
		began := time.Now()
		if began.Sub(killedAt) > killedDownBy {
			t.Errorf("compute on %s not down %s after SIGKILL:\n%s", victim, killedDownBy, prettyJSON(lastRows))
			break
		}
		rows, _ := lister.list()
		lastRows = rows
		for _, r := range rows {
			switch {
			case r.Host == victim:
				if r.State == string(servicegroup.Down) {
					killedDown = began.Sub(killedAt)
				}
			case r.State != string(servicegroup.Up):
				othersNotUp.add(since(began.Sub(killedAt))+" after the kill", r.String())
			}
		}
		time.Sleep(listEvery)
	}
	othersNotUp.report(t, fmt.Sprintf("a live service not shown up after compute on %s was killed", victim))
	if table := lister.table(); strings.Contains(table, "not seen since") {
		t.Errorf("service list says a topic is not seen while Temporal runs:\n%s", table)
	}
	t.Logf("control: compute on %s down %s after SIGKILL", victim, since(killedDown))
}

// observedBefore says how long before t the row's topic was last observed.
func (v listedService) observedBefore(t time.Time) time.Duration {
	if v.Observer == nil {
		return -1
	}
	return t.Sub(v.Observer.ObservedAt).Round(time.Millisecond)
}

func hostOf(res conductor.BuildResult) string {
	if len(res.Instances) == 0 {
		return ""
	}
	return res.Instances[0].Host
}
