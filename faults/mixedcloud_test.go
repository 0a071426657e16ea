//go:build faults && linux

package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/rpc"
)

// The two releases of the mixed-version test: this test binary, and the
// same built with the tag novaflow_next (managers/compute/next.go and
// managers/conductor/next.go), where compute serves RPC API 1.1 at service
// version 2: build_and_run_instance gains requested_by, which the next
// conductor sends when compute's upgrade level allows, and describe_host
// is new.
const (
	releaseOld  = "old"
	releaseNext = "next"
)

// nextComputeDefinition is compute's definition in the next release, as a
// caller of that release sees it (its "auto" levels map service version 2
// to 1.1).
var nextComputeDefinition = managers.Definition{Name: "compute", Topic: "compute", Version: 2,
	RPCVersions: map[int]string{1: "1.0", 2: "1.1"}}

// buildNextRelease builds this package's test binary with the tag
// novaflow_next and returns its path.
func buildNextRelease(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "faults-next.test")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-tags", "faults novaflow_next", "-o", path, "./faults")
	cmd.Dir = ".." // the module's root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the next release: %v\n%s", err, out)
	}
	return path
}

// mixedCloud is a stack whose services run either release, each with its
// own build ID (NOVAFLOW_BUILD_ID) and NOVAFLOW_VERSIONING=auto, so that
// the topics' Worker Deployments carry the workflows from one release to
// the other.
type mixedCloud struct {
	*stack
	bins     map[string]string // release -> binary
	buildIDs map[string]string // release -> build ID
	release  map[string]string // host/topic -> release running
	confFile string            // the conductor's NOVAFLOW_CONFIG_FILE
}

func (m *mixedCloud) run(topic, host, release string) {
	m.t.Helper()
	key := host + "/" + topic
	extra := map[string]string{"NOVAFLOW_VERSIONING": "auto", "NOVAFLOW_BUILD_ID": m.buildIDs[release]}
	switch topic {
	case "compute":
		extra["NOVAFLOW_COMPUTE_DRIVER"] = HoldProcessDriver
		extra["NOVAFLOW_COMPUTE_STATE_DIR"] = filepath.Join(m.dir, "compute-"+host)
		extra["NOVAFLOW_COMPUTE_DRIVER_OPTIONS"] = "vcpus:64,memory_mb:65536,disk_gb:1000"
		m.stateDirs[host] = extra["NOVAFLOW_COMPUTE_STATE_DIR"]
	case "conductor":
		extra["NOVAFLOW_CONFIG_FILE"] = m.confFile
	}
	env := m.env(host, extra)
	env[serviceEnv] = topic
	p := startProcess(m.t, m.bins[release], env, "-test.run=^$")
	p.name = topic + " on " + host + " (" + release + ")"
	m.procs[key] = p
	m.release[key] = release
	m.waitUp(p, topic, host)
}

// roll stops the service of topic on host (SIGTERM: it finishes what it
// runs) and starts it again on release, as a host-by-host systemd restart.
func (m *mixedCloud) roll(topic, host, release string) {
	m.t.Helper()
	p := m.procs[host+"/"+topic]
	if code := p.stop(m.t); code != 0 {
		m.t.Fatalf("%s: exit code %d after SIGTERM:\n%s", p.name, code, tail(p.output(), 3000))
	}
	m.run(topic, host, release)
	m.t.Logf("%s on %s runs the %s release", topic, host, release)
}

// setComputeLevel writes the conductor's NOVAFLOW_UPGRADE_LEVELS_COMPUTE
// and, when it runs, SIGHUPs it and waits for its reset.
func (m *mixedCloud) setComputeLevel(level string) {
	m.t.Helper()
	if err := os.WriteFile(m.confFile, []byte(rpc.UpgradeLevelEnv("compute")+"="+level+"\n"), 0o644); err != nil {
		m.t.Fatal(err)
	}
	p := m.procs["cond-1/conductor"]
	if p == nil {
		return
	}
	before := strings.Count(p.output(), "service reset")
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	m.eventually(time.Minute, "the conductor reset after SIGHUP", func() bool {
		return strings.Count(p.output(), "service reset") > before
	})
}

// stream is the steady load of the test: builds of one instance each, then
// stop, start, reboot and delete of it, by workers in parallel. Every
// operation must succeed.
type stream struct {
	m      *mixedCloud
	rpc    *rpc.Client
	builds sync.RWMutex // a build holds it shared; pause takes it
	stop   chan struct{}
	wg     sync.WaitGroup
	sleep  string // the instances' command

	mu       sync.Mutex
	ops      map[string]int // operation -> done
	failures []string
	uuids    []string
	built    map[string]string // uuid -> host
}

func (st *stream) fail(format string, args ...any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.failures = append(st.failures, fmt.Sprintf(format, args...))
}

func (st *stream) done(op string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.ops[op]++
}

func (st *stream) count(op string) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.ops[op]
}

func (st *stream) start(workers int) {
	for w := range workers {
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-st.stop:
					return
				default:
				}
				st.cycle(fmt.Sprintf("w%d-%d", w, i))
			}
		}()
	}
}

// cycle builds one instance and runs it through stop, start, reboot and
// delete.
func (st *stream) cycle(name string) {
	s := st.m.stack
	req, u := buildRequest(name, st.sleep, "3600")
	st.builds.RLock()
	st.mu.Lock()
	st.uuids = append(st.uuids, u)
	st.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := buildOutcome(ctx, s.startBuild("build-"+u, req))
	st.builds.RUnlock()
	if err != nil || len(res.Instances) != 1 || res.Instances[0].VMState != "active" {
		st.fail("build %s (%s): %v %s", name, u, err, prettyJSON(res))
		return
	}
	host := res.Instances[0].Host
	st.mu.Lock()
	st.built[u] = host
	st.mu.Unlock()
	st.done("build")
	for _, op := range []struct {
		method string
		req    any
	}{
		{"stop_instance", computemgr.StopRequest{InstanceUUID: u}},
		{"start_instance", computemgr.InstanceRequest{InstanceUUID: u}},
		{"reboot_instance", computemgr.RebootRequest{InstanceUUID: u}},
		{"terminate_instance", computemgr.InstanceRequest{InstanceUUID: u}},
	} {
		if err := st.rpc.Call(ctx, "compute", op.method, op.req, nil, rpc.ToHost(host)); err != nil {
			st.fail("%s of %s (%s) on %s: %v", op.method, name, u, host, err)
			return
		}
		st.done(op.method)
	}
}

// waitCycles waits until n more instances have been deleted by the stream,
// so that each phase of the roll has work that crossed it.
func (st *stream) waitCycles(n int) {
	st.m.t.Helper()
	target := st.count("terminate_instance") + n
	st.m.eventually(3*time.Minute, fmt.Sprintf("%d more cycles of the stream", n), func() bool {
		st.mu.Lock()
		failed := len(st.failures)
		st.mu.Unlock()
		if failed > 0 {
			st.m.t.Fatalf("the stream failed: %s", strings.Join(st.failures, "\n"))
		}
		return st.count("terminate_instance") >= target
	})
}

// requestedBy counts the "build" actions whose request carried compute
// 1.1's requested_by (recorded by a next-release host), of instances
// created after since.
func (m *mixedCloud) requestedBy(since time.Time) int {
	m.t.Helper()
	var n int
	err := m.pool.QueryRow(context.Background(), `
		SELECT count(*) FROM instance_actions a JOIN instances i ON i.uuid = a.instance_uuid
		WHERE a.action = 'build' AND a.message LIKE 'requested by %' AND i.created_at > $1`, since).Scan(&n)
	if err != nil {
		m.t.Fatal(err)
	}
	return n
}

// TestMixedVersionCloud rolls a running cloud (a conductor, a scheduler,
// two computes on the process driver, each a process of its own) from one
// release to the next and back while builds, stops, starts, reboots and
// deletes run without pause, in the two orders nova allows:
//
//  1. the conductor first, its compute level pinned to 1.0
//     (NOVAFLOW_UPGRADE_LEVELS_COMPUTE), then the scheduler and the
//     computes, then the pin lifted (auto, SIGHUP): builds then send compute
//     1.1 with requested_by;
//  2. the rollback: the conductor pinned to 1.0 again, then each service
//     back to the old release, the newer rows forced down first (the
//     rollback check counts a service's own row) and each deployment's
//     current version set back to the old build;
//  3. the computes first, then the scheduler and the conductor with auto.
//
// Casts sent to a compute host that is down before the roll wait on its
// queue across every switch and complete once it is back. At the end every
// operation succeeded, and every instance is deleted once, with its
// actions finished.
func TestMixedVersionCloud(t *testing.T) {
	next := buildNextRelease(t)
	s := newStack(t, stackOptions{})
	suffix := newUUID()[:8]
	m := &mixedCloud{stack: s,
		bins:     map[string]string{releaseOld: os.Args[0], releaseNext: next},
		buildIDs: map[string]string{releaseOld: "old-" + suffix, releaseNext: "next-" + suffix},
		release:  map[string]string{},
		confFile: filepath.Join(s.dir, "conductor.env"),
	}
	m.setComputeLevel(rpc.AutoLevel)
	computes := []string{"node-a", "node-b"}
	for _, h := range computes {
		m.run("compute", h, releaseOld)
	}
	m.run("scheduler", "sched-1", releaseOld)
	m.run("conductor", "cond-1", releaseOld)

	// A caller of the next release (auto): it may send describe_host only
	// once every compute runs the next release.
	nextCaller, err := rpc.New(rpc.Options{Temporal: s.tc, ResponseTimeout: time.Minute, CastTimeout: 30 * time.Minute,
		UpgradeLevels: map[string]string{"compute": rpc.AutoLevel}, Services: s.services,
		Definition: func(string) (managers.Definition, error) { return nextComputeDefinition, nil }})
	if err != nil {
		t.Fatal(err)
	}
	oldCaller, err := rpc.New(rpc.Options{Temporal: s.tc, ResponseTimeout: time.Minute, CastTimeout: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	describeRefused := func() {
		t.Helper()
		err := nextCaller.Call(context.Background(), "compute", "describe_host", struct{}{}, nil, rpc.ToHost(computes[0]), rpc.Version("1.1"))
		if e, ok := managers.AsError(err); !ok || e.Type != managers.UnsupportedVersionType {
			t.Fatalf("describe_host 1.1 with an old compute: %v, want UnsupportedVersion at the caller", err)
		}
	}
	describeServed := func() {
		t.Helper()
		s.eventually(time.Minute, "auto level of compute at 1.1 for a next-release caller", func() bool {
			ok, err := nextCaller.CanSendVersion(context.Background(), "compute", "1.1")
			return err == nil && ok
		})
		for _, h := range computes {
			var d struct {
				Host           string `json:"host"`
				ServiceVersion int    `json:"service_version"`
			}
			if err := nextCaller.Call(context.Background(), "compute", "describe_host", struct{}{}, &d, rpc.ToHost(h), rpc.Version("1.1")); err != nil || d.Host != h || d.ServiceVersion != 2 {
				t.Fatalf("describe_host on %s: %+v, %v", h, d, err)
			}
		}
	}

	// A long-lived instance on a host that goes down before the roll: casts
	// to it start on the old build and wait on its queue.
	longHost := "node-c"
	m.run("compute", longHost, releaseOld)
	longReq, longUUID := buildRequest("long", absolute(t, "sleep"), "3600")
	// Build it on node-c: the others are disabled for the time of the build.
	for _, h := range computes {
		if _, err := s.services.SetDisabled(context.Background(), h, "novaflow-compute", true, "mixed-version test: build the long instance on node-c"); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := buildOutcome(context.Background(), s.startBuild("build-"+longUUID, longReq)); err != nil || res.Instances[0].Host != longHost {
		t.Fatalf("build of the long instance: %v %s", err, prettyJSON(res))
	}
	for _, h := range computes {
		if _, err := s.services.SetDisabled(context.Background(), h, "novaflow-compute", false, ""); err != nil {
			t.Fatal(err)
		}
	}
	if code := m.procs[longHost+"/compute"].stop(t); code != 0 {
		t.Fatalf("node-c: exit code %d", code)
	}
	delete(m.procs, longHost+"/compute")
	// A host that is down and stays down is forced down, or its row, of the
	// old release, would hold the computes' auto level at 1.0.
	if _, err := s.services.SetForcedDown(context.Background(), longHost, "novaflow-compute", true); err != nil {
		t.Fatal(err)
	}
	var casts []rpc.Execution
	for _, method := range []string{"stop_instance", "start_instance"} {
		var req any = computemgr.StopRequest{InstanceUUID: longUUID}
		if method == "start_instance" {
			req = computemgr.InstanceRequest{InstanceUUID: longUUID}
		}
		exec, err := oldCaller.Cast(context.Background(), "compute", method, req, rpc.ToHost(longHost))
		if err != nil {
			t.Fatal(err)
		}
		casts = append(casts, exec)
	}

	st := &stream{m: m, rpc: oldCaller, stop: make(chan struct{}), ops: map[string]int{}, built: map[string]string{},
		sleep: absolute(t, "sleep")}
	st.start(2)
	defer func() {
		select {
		case <-st.stop:
		default:
			close(st.stop)
		}
		st.wg.Wait()
	}()
	st.waitCycles(2)
	describeRefused()

	// 1. The conductor first, pinned; then the scheduler and the computes;
	// then unpin.
	start := time.Now()
	m.setComputeLevel("1.0")
	m.roll("conductor", "cond-1", releaseNext)
	st.waitCycles(2)
	m.roll("scheduler", "sched-1", releaseNext)
	for _, h := range computes {
		m.roll("compute", h, releaseNext)
		st.waitCycles(2)
	}
	if n := m.requestedBy(start); n != 0 {
		t.Errorf("%d builds sent requested_by while the conductor was pinned to compute 1.0", n)
	}
	describeServed()
	unpinned := time.Now()
	m.setComputeLevel(rpc.AutoLevel)
	st.waitCycles(2)
	s.eventually(time.Minute, "builds with requested_by after the pin is lifted", func() bool { return m.requestedBy(unpinned) > 0 })
	t.Logf("order 1 (conductor pinned first) done in %s", time.Since(start).Round(time.Second))

	// 2. Roll back: pin, let the builds that may have chosen 1.1 finish,
	// then each service back to the old release.
	start = time.Now()
	m.setComputeLevel("1.0")
	st.builds.Lock() // builds started before the pin end
	st.builds.Unlock()
	pinned := time.Now()
	m.rollBack(st, computes)
	st.waitCycles(2)
	if n := m.requestedBy(pinned); n != 0 {
		t.Errorf("%d builds sent requested_by after the conductor was pinned for the rollback", n)
	}
	// The next-release caller's auto level falls back to 1.0 by itself
	// (within the 30 s it reuses a level).
	s.eventually(time.Minute, "auto level of compute back to 1.0 for a next-release caller", func() bool {
		ok, err := nextCaller.CanSendVersion(context.Background(), "compute", "1.1")
		return err == nil && !ok
	})
	describeRefused()
	t.Logf("rollback done in %s", time.Since(start).Round(time.Second))

	// 3. The computes first, then the scheduler and the conductor, with
	// auto.
	start = time.Now()
	m.setComputeLevel(rpc.AutoLevel)
	for _, h := range computes {
		m.roll("compute", h, releaseNext)
		st.waitCycles(2)
	}
	describeServed()
	m.roll("scheduler", "sched-1", releaseNext)
	conductorUp := time.Now()
	m.roll("conductor", "cond-1", releaseNext)
	st.waitCycles(2)
	s.eventually(time.Minute, "builds with requested_by from the next conductor (auto)", func() bool { return m.requestedBy(conductorUp) > 0 })
	t.Logf("order 2 (computes first) done in %s", time.Since(start).Round(time.Second))

	// The casts to node-c, started before the roll on the old build, finish
	// once it is back, on the next release.
	m.run("compute", longHost, releaseNext)
	if _, err := s.services.SetForcedDown(context.Background(), longHost, "novaflow-compute", false); err != nil {
		t.Fatal(err)
	}
	for _, exec := range casts {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := oldCaller.Result(ctx, exec, nil); err != nil {
			t.Errorf("cast %s, started before the roll: %v", exec.WorkflowID, err)
		}
		cancel()
	}

	close(st.stop)
	st.wg.Wait()
	if len(st.failures) > 0 {
		t.Fatalf("%d operations failed:\n%s", len(st.failures), strings.Join(st.failures, "\n"))
	}
	// Every instance of the stream was created once, built on one host
	// and deleted; every action finished.
	insts, err := s.store.List(context.Background(), store.Filter{UUIDs: st.uuids, Deleted: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != len(st.uuids) {
		t.Errorf("%d instances in the database for %d builds", len(insts), len(st.uuids))
	}
	for _, i := range insts {
		if !i.Deleted || i.VMState != store.Deleted || st.built[i.UUID] == "" {
			t.Errorf("instance %s (%s): vm_state %s, deleted %v, built on %q; want deleted after its build", i.Name, i.UUID, i.VMState, i.Deleted, st.built[i.UUID])
		}
	}
	var creates, builds, unfinished int
	if err := s.pool.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE action = 'create'),
		       count(*) FILTER (WHERE action = 'build' AND result = 'Success'),
		       count(*) FILTER (WHERE result IS NULL)
		FROM instance_actions WHERE instance_uuid::text = ANY($1)`, st.uuids).Scan(&creates, &builds, &unfinished); err != nil {
		t.Fatal(err)
	}
	if creates != len(st.uuids) || builds != len(st.uuids) || unfinished != 0 {
		t.Errorf("instance_actions: %d creates and %d successful builds for %d instances, %d actions without a result", creates, builds, len(st.uuids), unfinished)
	}
	s.checkRunning()
	t.Logf("operations: %v", st.ops)
}

// rollBack takes the cloud back to the old release while the stream runs:
// the builds pause while no compute may be scheduled.
func (m *mixedCloud) rollBack(st *stream, computes []string) {
	m.t.Helper()
	ctx := context.Background()
	// The rollback check counts every live row of the binary, its own
	// included: force the newer ones down, start the older code, clear the
	// marks. No compute is schedulable meanwhile: builds pause.
	st.builds.Lock()
	for _, h := range computes {
		if _, err := m.services.SetForcedDown(ctx, h, "novaflow-compute", true); err != nil {
			m.t.Fatal(err)
		}
	}
	m.roll("compute", computes[0], releaseOld)
	m.setCurrent("novaflow-compute", releaseOld)
	for _, h := range computes {
		if _, err := m.services.SetForcedDown(ctx, h, "novaflow-compute", false); err != nil {
			m.t.Fatal(err)
		}
	}
	st.builds.Unlock()
	st.waitCycles(1)
	for _, h := range computes[1:] {
		m.roll("compute", h, releaseOld)
		st.waitCycles(1)
	}
	m.roll("scheduler", "sched-1", releaseOld)
	m.setCurrent("novaflow-scheduler", releaseOld)
	m.roll("conductor", "cond-1", releaseOld)
	m.setCurrent("novaflow-conductor", releaseOld)
}

// setCurrent makes release's build the current version of deployment, as
// `temporal worker deployment set-current-version` does.
func (m *mixedCloud) setCurrent(deployment, release string) {
	m.t.Helper()
	h := m.tc.WorkerDeploymentClient().GetHandle(deployment)
	m.eventually(time.Minute, deployment+" current version back to "+m.buildIDs[release], func() bool {
		_, err := h.SetCurrentVersion(context.Background(), client.WorkerDeploymentSetCurrentVersionOptions{BuildID: m.buildIDs[release]})
		return err == nil
	})
}
