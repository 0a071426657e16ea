package compute_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/fake"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
)

func TestBuildAndRunInstance(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, map[string]string{"vcpus": "4", "memory_mb": "4096", "disk_gb": "10"})
	u := e.create(t, tiny)

	out, err := call(t, e.mgr, "build_and_run_instance", `{"instance_uuid":"`+u+`","request_id":"req-1"}`)
	if err != nil {
		t.Fatalf("build_and_run_instance: %v", err)
	}
	if !strings.Contains(string(out), `"vm_state":"active"`) || !strings.Contains(string(out), `"task_state":null`) {
		t.Errorf("result = %s, want vm_state active and task_state null", out)
	}
	i := e.get(t, u)
	wantState(t, i, store.Active, store.NoTask, compute.Running)
	if i.Host != e.host || i.LaunchedAt == nil {
		t.Errorf("host %q, launched_at %v; want %s and set", i.Host, i.LaunchedAt, e.host)
	}
	if got := e.actions(t, u); !slices.Equal(got, []string{"create:", "build:Success"}) {
		t.Errorf("actions = %v", got)
	}
	n, err := e.store.Node(ctx, e.host)
	if err != nil {
		t.Fatal(err)
	}
	if n.VCPUsUsed != 1 || n.MemoryMBUsed != 512 || n.DiskGBUsed != 1 {
		t.Errorf("node usage = %+v, want the instance's flavor", n)
	}
}

func TestBuildIsIdempotent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)

	t.Run("repeated request", func(t *testing.T) {
		u := e.create(t, tiny)
		req := computemgr.InstanceRequest{InstanceUUID: u, RequestID: "req-same"}
		first, err := e.mgr.BuildAndRunInstance(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		info1, _ := e.fake.Info(ctx, u)
		second, err := e.mgr.BuildAndRunInstance(ctx, req)
		if err != nil {
			t.Fatalf("second build: %v", err)
		}
		info2, _ := e.fake.Info(ctx, u)
		if info1.PID != info2.PID || second.VMState != store.Active || first.UUID != second.UUID {
			t.Errorf("second build spawned again: pid %d -> %d", info1.PID, info2.PID)
		}
	})

	t.Run("crash after spawn", func(t *testing.T) {
		// The activity ran, spawned, and died before writing the result:
		// its retry must adopt the instance, not spawn a second one.
		u := e.create(t, tiny)
		if _, err := e.store.Claim(ctx, u, e.host); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Update(ctx, u, store.Cond{}, store.Set{TaskState: store.Spawning}); err != nil {
			t.Fatal(err)
		}
		i := e.get(t, u)
		if err := e.fake.Spawn(ctx, i.DriverInstance()); err != nil {
			t.Fatal(err)
		}
		before, _ := e.fake.Info(ctx, u)
		e.fake.FailNext(fake.OpSpawn, errBoom) // a second spawn would fail the build
		if _, err := e.mgr.BuildAndRunInstance(ctx, computemgr.InstanceRequest{InstanceUUID: u}); err != nil {
			t.Fatalf("retried build: %v", err)
		}
		after, _ := e.fake.Info(ctx, u)
		if before.PID != after.PID {
			t.Errorf("the retry spawned again: pid %d -> %d", before.PID, after.PID)
		}
		wantState(t, e.get(t, u), store.Active, store.NoTask, compute.Running)
		// Drain the injected failure for the next subtests.
		_ = e.fake.Spawn(ctx, compute.Instance{UUID: "drain", Flavor: tiny, Command: []string{"x"}})
	})
}

func TestBuildFailures(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		opts      map[string]string
		flavor    compute.Flavor
		setup     func(e *env, u string)
		wantType  string
		wantField string
	}{
		{
			name:     "spawn fails",
			setup:    func(e *env, u string) { e.fake.Fail(fake.OpSpawn, u, errBoom) },
			wantType: computemgr.RescheduledType,
		},
		{
			name:     "host too small",
			opts:     map[string]string{"vcpus": "1"},
			flavor:   compute.Flavor{Name: "big", VCPUs: 2, MemoryMB: 64, DiskGB: 0},
			wantType: computemgr.RescheduledType,
		},
		{
			name: "image cannot run anywhere",
			setup: func(e *env, u string) {
				// The API would refuse it; the driver has the last word.
				if _, err := e.pool.Exec(ctx, `UPDATE instances SET image_command = $2 WHERE uuid = $1`,
					u, []string{""}); err != nil {
					panic(err)
				}
			},
			wantType:  "InvalidArgument",
			wantField: "image.command[0]",
		},
		{
			name: "claimed on another host",
			setup: func(e *env, u string) {
				if _, err := e.store.UpdateNode(ctx, "host-2", compute.Resources{VCPUs: 4, MemoryMB: 4096, DiskGB: 10}); err != nil {
					panic(err)
				}
				if _, err := e.store.Claim(ctx, u, "host-2"); err != nil {
					panic(err)
				}
			},
			wantType: "Conflict",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			f := tt.flavor
			if f.VCPUs == 0 {
				f = tiny
			}
			u := e.create(t, f)
			if tt.setup != nil {
				tt.setup(e, u)
			}
			_, err := e.mgr.BuildAndRunInstance(ctx, computemgr.InstanceRequest{InstanceUUID: u})
			if got := errType(err); got != tt.wantType {
				t.Fatalf("build error = %v (type %q), want type %s", err, got, tt.wantType)
			}
			if tt.wantField != "" {
				if me, _ := managersError(err); me.Field != tt.wantField {
					t.Errorf("field = %q, want %q", me.Field, tt.wantField)
				}
			}
			i := e.get(t, u)
			if tt.wantType == "Conflict" {
				return // the other host's claim stands
			}
			wantState(t, i, store.Building, store.Scheduling, compute.NoState)
			if i.Host != "" {
				t.Errorf("host = %q after a failed build, want the claim released", i.Host)
			}
			if n, _ := e.store.Node(ctx, e.host); n.VCPUsUsed != 0 || n.MemoryMBUsed != 0 {
				t.Errorf("node usage after a failed build = %+v, want 0", n)
			}
			if list, _ := e.fake.List(ctx); len(list) != 0 {
				t.Errorf("driver has %d instances after a failed build, want 0", len(list))
			}
			if got := e.actions(t, u); !slices.Equal(got, []string{"create:", "build:Error"}) {
				t.Errorf("actions = %v", got)
			}
		})
	}
}
