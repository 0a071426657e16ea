package conductor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/conductor"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/testenv"
)

// gatedDriverName is a compute driver of these tests: the fake driver,
// whose Spawn of an instance a test has gated (gatedDriver.hold) waits
// until the test opens the gate.
const gatedDriverName = "conductor-test-gated"

func init() {
	compute.Register(gatedDriverName, func(cfg compute.Config) (compute.Driver, error) {
		d, err := fake.Open(cfg)
		if err != nil {
			return nil, err
		}
		return &gatedDriver{Driver: d, host: cfg.Host, gates: map[string]*spawnGate{}}, nil
	})
}

type gatedDriver struct {
	*fake.Driver
	host  string
	mu    sync.Mutex
	gates map[string]*spawnGate
}

// spawnGate holds the spawns of an instance: entered receives the host of
// each spawn that reaches it; closing open lets them go on.
type spawnGate struct {
	entered chan string
	open    chan struct{}
}

func newSpawnGate() *spawnGate {
	return &spawnGate{entered: make(chan string, 16), open: make(chan struct{})}
}

// hold makes the driver's spawns of the instance wait at g.
func (d *gatedDriver) hold(uuid string, g *spawnGate) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gates[uuid] = g
}

func (d *gatedDriver) Spawn(ctx context.Context, inst compute.Instance) error {
	d.mu.Lock()
	g := d.gates[inst.UUID]
	d.mu.Unlock()
	if g != nil {
		select {
		case g.entered <- d.host:
		default:
		}
		select {
		case <-g.open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return d.Driver.Spawn(ctx, inst)
}

// TestDeleteDuringBuildEndsIt: the terminate of an instance begins (its
// task_state becomes deleting) while the instance's build is held in the
// driver's spawn on its first host, which then fails. The build does not
// reschedule: the claim of the next host is refused because the instance is
// being deleted, and the build ends at once, trying no other host; its
// result says the instance is deleted, and the instance is left to its
// terminate as the terminate left it (still deleting, on its host, not
// ERROR: nova aborts a build that finds its instance being deleted). The
// terminate then finishes: the instance is deleted and no host keeps a
// claim.
//
// The test marks the terminate's beginning itself, with the terminate's own
// first update, at the moment it chooses: a terminate_instance of this
// instance would queue behind the build on its host (one lock per instance
// and process), and the window in which another process's terminate has
// marked the instance but not yet deleted it (an instance on no host, a
// detach of its volumes that fails) cannot be hit on purpose. nova's API
// marks deleting the same way, before the compute host takes the
// instance's lock.
func TestDeleteDuringBuildEndsIt(t *testing.T) {
	ctx := context.Background()
	c := newCloudWith(t, 3, gatedDriverName)
	u := uuid.NewString()
	g := newSpawnGate()
	for _, h := range c.hosts {
		c.gated[h].hold(u, g)
		c.drv[h].Fail(fake.OpSpawn, u, errors.New("hypervisor on fire"))
	}

	id := testenv.UniqueName(t, "build")
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	run, err := c.tc.ExecuteWorkflow(wctx, client.StartWorkflowOptions{ID: id, TaskQueue: c.buildQ}, conductor.BuildInstancesName,
		json.RawMessage(`{"name":"doomed","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["`+u+`"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var first string
	select {
	case first = <-g.entered:
	case <-wctx.Done():
		t.Fatal("no spawn of the instance began")
	}
	// The terminate begins (terminate_instance's first step on the
	// instance's host).
	if _, err := c.store.Update(ctx, u, store.Cond{Host: first}, store.Set{TaskState: store.Deleting}); err != nil {
		t.Fatal(err)
	}
	close(g.open)

	start := time.Now()
	var res conductor.BuildResult
	err = run.Get(wctx, &res)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == conductor.BuildFailedType {
		if derr := appErr.Details(&res); derr != nil {
			t.Fatalf("BuildFailed details: %v", derr)
		}
	} else if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Logf("the build ended %s after the spawn was let go", time.Since(start).Round(time.Millisecond))
	if len(res.Instances) != 1 {
		t.Fatalf("build result = %+v", res)
	}
	b := res.Instances[0]
	if b.VMState != "deleted" || b.Fault != "" {
		t.Errorf("build result: vm_state %q, fault %q; want deleted, no fault", b.VMState, b.Fault)
	}
	// The first host's failure, then the refused claim of the next host,
	// and nothing more.
	if len(b.Attempts) != 2 || b.Attempts[0].Host != first || !strings.Contains(b.Attempts[1].Error, "task_state deleting") {
		t.Errorf("attempts = %+v, want the failed spawn on %s and one claim refused because the instance is being deleted", b.Attempts, first)
	}
	inst, err := c.store.Get(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if inst.VMState != store.Building || inst.TaskState != store.Deleting || inst.Fault != "" || inst.Host != first {
		t.Errorf("instance after the build: vm_state %s, task_state %q, host %q, fault %q; want building, deleting, on %s (its terminate's), no fault",
			inst.VMState, inst.TaskState, inst.Host, inst.Fault, first)
	}
	label := fmt.Sprintf("h%d", slices.Index(c.hosts, first)+1)
	if got := c.actions(u); len(got) != 2 || got[0] != "create:Error" || got[1] != "build@"+label+":Error" {
		t.Errorf("actions = %v, want the create action ended and one build, on %s", got, label)
	}

	// The terminate finishes.
	rc, err := rpc.New(rpc.Options{Temporal: c.tc})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Call(ctx, "compute", "terminate_instance", map[string]any{"instance_uuid": u}, &inst); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	if inst, err = c.store.Get(ctx, u); err != nil || !inst.Deleted || inst.VMState != store.Deleted {
		t.Errorf("instance after its terminate = %+v, %v; want deleted", inst, err)
	}
	for _, h := range c.hosts {
		if n, _ := c.store.Node(ctx, h); n.VCPUsUsed != 0 {
			t.Errorf("host %s keeps a claim: %+v", h, n)
		}
	}
	if got := c.actions(u); !slices.Contains(got, "delete@"+label+":Success") {
		t.Errorf("actions = %v, want a successful delete on %s", got, label)
	}
}
