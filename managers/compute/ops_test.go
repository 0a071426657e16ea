package compute_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
)

func TestPowerOperations(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	stopped := func(t *testing.T) string {
		u := e.active(t)
		if _, err := e.mgr.StopInstance(ctx, computemgr.StopRequest{InstanceUUID: u}); err != nil {
			t.Fatal(err)
		}
		return u
	}
	errored := func(t *testing.T) string {
		u := e.active(t)
		if _, err := e.store.Update(ctx, u, store.Cond{}, store.Set{VMState: store.Error, Fault: "test"}); err != nil {
			t.Fatal(err)
		}
		return u
	}
	building := func(t *testing.T) string { return e.create(t, tiny) }

	tests := []struct {
		name        string
		setup       func(t *testing.T) string
		method      string
		extra       string // more JSON fields of the request
		inject      fake.Op
		wantType    string
		wantVM      store.VMState
		wantPower   compute.PowerState
		wantActions []string
	}{
		{name: "stop", setup: e.active, method: "stop_instance",
			wantVM: store.Stopped, wantPower: compute.Shutdown,
			wantActions: []string{"create:", "build:Success", "stop:Success"}},
		{name: "stop forced", setup: e.active, method: "stop_instance", extra: `,"force":true`,
			wantVM: store.Stopped, wantPower: compute.Shutdown,
			wantActions: []string{"create:", "build:Success", "stop:Success"}},
		{name: "stop a stopped instance succeeds", setup: stopped, method: "stop_instance",
			wantVM: store.Stopped, wantPower: compute.Shutdown,
			wantActions: []string{"create:", "build:Success", "stop:Success", "stop:Success"}},
		{name: "stop a building instance", setup: building, method: "stop_instance",
			wantType: "Conflict", wantVM: store.Building, wantPower: compute.NoState,
			wantActions: []string{"create:", "stop:Error"}},
		{name: "stop fails in the driver", setup: e.active, method: "stop_instance", inject: fake.OpPowerOff,
			wantType: "untyped", wantVM: store.Active, wantPower: compute.Running,
			wantActions: []string{"create:", "build:Success", "stop:Error"}},
		{name: "start", setup: stopped, method: "start_instance",
			wantVM: store.Active, wantPower: compute.Running,
			wantActions: []string{"create:", "build:Success", "stop:Success", "start:Success"}},
		{name: "start an active instance succeeds", setup: e.active, method: "start_instance",
			wantVM: store.Active, wantPower: compute.Running,
			wantActions: []string{"create:", "build:Success", "start:Success"}},
		{name: "start an instance in error", setup: errored, method: "start_instance",
			wantType: "Conflict", wantVM: store.Error, wantPower: compute.Running,
			wantActions: []string{"create:", "build:Success", "start:Error"}},
		{name: "reboot soft", setup: e.active, method: "reboot_instance",
			wantVM: store.Active, wantPower: compute.Running,
			wantActions: []string{"create:", "build:Success", "reboot:Success"}},
		{name: "reboot soft a stopped instance", setup: stopped, method: "reboot_instance", extra: `,"reboot_type":"SOFT"`,
			wantType: "Conflict", wantVM: store.Stopped, wantPower: compute.Shutdown,
			wantActions: []string{"create:", "build:Success", "stop:Success", "reboot:Error"}},
		{name: "reboot hard a stopped instance", setup: stopped, method: "reboot_instance", extra: `,"reboot_type":"HARD"`,
			wantVM: store.Active, wantPower: compute.Running,
			wantActions: []string{"create:", "build:Success", "stop:Success", "reboot:Success"}},
		{name: "reboot hard recovers an instance in error", setup: errored, method: "reboot_instance", extra: `,"reboot_type":"hard"`,
			wantVM: store.Active, wantPower: compute.Running,
			wantActions: []string{"create:", "build:Success", "reboot:Success"}},
		{name: "reboot fails and the instance still runs", setup: e.active, method: "reboot_instance", inject: fake.OpReboot,
			wantType: "untyped", wantVM: store.Active, wantPower: compute.Running,
			wantActions: []string{"create:", "build:Success", "reboot:Error"}},
		{name: "terminate", setup: e.active, method: "terminate_instance",
			wantVM: store.Deleted, wantPower: compute.NoState,
			wantActions: []string{"create:", "build:Success", "delete:Success"}},
		{name: "terminate a building instance on no host", setup: building, method: "terminate_instance",
			wantVM: store.Deleted, wantPower: compute.NoState,
			wantActions: []string{"create:", "delete:Success"}},
		{name: "terminate fails in the driver", setup: e.active, method: "terminate_instance", inject: fake.OpDestroy,
			wantType: "untyped", wantVM: store.Error, wantPower: compute.Running,
			wantActions: []string{"create:", "build:Success", "delete:Error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.setup(t)
			if tt.inject != "" {
				e.fake.FailNext(tt.inject, errBoom)
			}
			_, err := call(t, e.mgr, tt.method, `{"instance_uuid":"`+u+`"`+tt.extra+`}`)
			got := errType(err)
			if got != tt.wantType && !(tt.wantType == "untyped" && len(got) > 8 && got[:8] == "untyped:") {
				t.Fatalf("%s error = %v, want type %q", tt.method, err, tt.wantType)
			}
			i := e.get(t, u)
			wantTask := store.NoTask
			if tt.wantVM == store.Building {
				wantTask = store.Scheduling
			}
			wantState(t, i, tt.wantVM, wantTask, tt.wantPower)
			if tt.wantVM == store.Deleted && (!i.Deleted || i.DeletedAt == nil || i.TerminatedAt == nil) {
				t.Errorf("terminated instance: deleted %v, deleted_at %v, terminated_at %v", i.Deleted, i.DeletedAt, i.TerminatedAt)
			}
			if tt.wantVM == store.Error && i.Fault == "" && tt.name != "start an instance in error" {
				t.Errorf("instance in error has no fault")
			}
			if got := e.actions(t, u); !slices.Equal(got, tt.wantActions) {
				t.Errorf("actions = %v, want %v", got, tt.wantActions)
			}
		})
	}
}

func TestTerminateGivesResourcesBackAndRepeats(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	u := e.active(t)
	for range 2 {
		i, err := e.mgr.TerminateInstance(ctx, computemgr.InstanceRequest{InstanceUUID: u})
		if err != nil {
			t.Fatalf("terminate: %v", err)
		}
		if !i.Deleted {
			t.Fatalf("terminate returned %+v", i)
		}
	}
	if n, _ := e.store.Node(ctx, e.host); n.VCPUsUsed != 0 || n.MemoryMBUsed != 0 || n.DiskGBUsed != 0 {
		t.Errorf("node usage after terminate = %+v, want 0", n)
	}
	if _, err := e.fake.Info(ctx, u); err == nil {
		t.Error("the driver still has the terminated instance")
	}
	if _, err := e.mgr.GetInstanceInfo(ctx, computemgr.InfoRequest{InstanceUUID: u}); errType(err) != "NotFound" {
		t.Errorf("get_instance_info of a deleted instance = %v, want NotFound", err)
	}
}

func TestRequestIDMakesARetryANoOp(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	u := e.active(t)
	req := computemgr.RebootRequest{InstanceUUID: u, RequestID: "req-reboot-1", RebootType: "HARD"}
	if _, err := e.mgr.RebootInstance(ctx, req); err != nil {
		t.Fatal(err)
	}
	before, _ := e.fake.Info(ctx, u)
	if _, err := e.mgr.RebootInstance(ctx, req); err != nil {
		t.Fatal(err)
	}
	after, _ := e.fake.Info(ctx, u)
	if before.PID != after.PID {
		t.Errorf("a repeated reboot request rebooted again: pid %d -> %d", before.PID, after.PID)
	}
	if got := e.actions(t, u); !slices.Equal(got, []string{"create:", "build:Success", "reboot:Success"}) {
		t.Errorf("actions = %v, want one reboot row", got)
	}
}

func TestRequestErrors(t *testing.T) {
	e := newEnv(t, nil)
	u := e.active(t)
	other := e.manager(t, "host-2")
	tests := []struct {
		name      string
		mgr       *computemgr.Manager
		method    string
		req       string
		wantType  string
		wantField string
	}{
		{"missing uuid", e.mgr, "stop_instance", `{}`, "InvalidArgument", "instance_uuid"},
		{"not a uuid", e.mgr, "start_instance", `{"instance_uuid":"vm-1"}`, "InvalidArgument", "instance_uuid"},
		{"unknown field", e.mgr, "terminate_instance", `{"instance_uuid":"` + u + `","hard":true}`, "InvalidArgument", "hard"},
		{"bad reboot type", e.mgr, "reboot_instance", `{"instance_uuid":"` + u + `","reboot_type":"warm"}`, "InvalidArgument", "reboot_type"},
		{"unknown instance", e.mgr, "get_instance_info", `{"instance_uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"}`, "NotFound", ""},
		{"unknown instance build", e.mgr, "build_and_run_instance", `{"instance_uuid":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"}`, "NotFound", ""},
		{"wrong host", other, "stop_instance", `{"instance_uuid":"` + u + `"}`, "Conflict", ""},
		{"wrong host terminate", other, "terminate_instance", `{"instance_uuid":"` + u + `"}`, "Conflict", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := call(t, tt.mgr, tt.method, tt.req)
			me, ok := managersError(err)
			if !ok || me.Type != tt.wantType || me.Field != tt.wantField {
				t.Fatalf("error = %v, want type %s field %q", err, tt.wantType, tt.wantField)
			}
		})
	}
	// Nothing changed the instance.
	wantState(t, e.get(t, u), store.Active, store.NoTask, compute.Running)
}

func TestGetInstanceInfo(t *testing.T) {
	e := newEnv(t, nil)
	u := e.active(t)
	out, err := call(t, e.mgr, "get_instance_info", `{"instance_uuid":"`+u+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	var info computemgr.InstanceInfo
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	if info.UUID != u || info.Host != e.host || info.Driver == nil || info.Driver.PowerState != compute.Running ||
		info.Driver.PID == 0 || info.Driver.StartedAt == nil || info.Flavor != tiny {
		t.Errorf("get_instance_info = %s", out)
	}
	// Another host answers from the database alone.
	other := e.manager(t, "host-2")
	info, err = other.GetInstanceInfo(context.Background(), computemgr.InfoRequest{InstanceUUID: u})
	if err != nil || info.Driver != nil || info.Host != e.host {
		t.Errorf("get_instance_info on another host = %+v, %v", info, err)
	}
}

// TestDefaultSettings keeps the defaults users know (docs/configuration.md).
func TestDefaultSettings(t *testing.T) {
	want := computemgr.Settings{
		ShutdownTimeout: 60 * time.Second, UpdateResourcesInterval: 60 * time.Second,
		SyncPowerStateInterval: 600 * time.Second, ReapDeletedInterval: 1800 * time.Second,
	}
	if got := managers.Defaults[computemgr.Settings](); !reflect.DeepEqual(got, want) {
		t.Errorf("Defaults = %+v, want %+v", got, want)
	}
}

// TestNoDriverRefuses: as nova's compute without compute_driver, a compute
// manager without NOVAFLOW_COMPUTE_DRIVER does not start.
func TestNoDriverRefuses(t *testing.T) {
	e := newEnv(t, nil)
	cfg := managers.Defaults[computemgr.Settings]()
	_, err := computemgr.New(managers.Deps{Host: "h", DB: e.pool, Config: &cfg})
	if err == nil || !strings.HasPrefix(err.Error(), "NOVAFLOW_COMPUTE_DRIVER: not set: name the compute driver of this host (") ||
		!strings.Contains(err.Error(), "fake") || strings.Contains(err.Error(), "\n") {
		t.Errorf("New without a driver = %v", err)
	}
}

// TestStateDirIsTheServices: without NOVAFLOW_COMPUTE_STATE_DIR the process
// driver keeps its state in the service's state directory.
func TestStateDirIsTheServices(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the process driver runs on Linux only")
	}
	e := newEnv(t, nil)
	dir := filepath.Join(t.TempDir(), "state")
	cfg := managers.Defaults[computemgr.Settings]()
	cfg.Driver = "process"
	m, err := computemgr.New(managers.Deps{Host: "h", DB: e.pool, Config: &cfg, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Driver().Close()
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the process driver did not use the service's state directory: %v", err)
	}
}

func TestUnknownDriverNamesTheSetting(t *testing.T) {
	e := newEnv(t, nil)
	cfg := managers.Defaults[computemgr.Settings]()
	cfg.Driver = "no-such-driver"
	_, err := computemgr.New(managers.Deps{Host: "h", DB: e.pool, Config: &cfg})
	if err == nil || !strings.HasPrefix(err.Error(), `NOVAFLOW_COMPUTE_DRIVER: unknown compute driver "no-such-driver" (forgotten import?); registered: `) {
		t.Errorf("New = %v", err)
	}
}

// TestTerminateOnNoHostRacesAClaim: terminate_instance of an instance on no
// host, run by whichever host looked it up, deletes it only while it is
// still on none. When the conductor claims it for another host between the
// look-up and the delete, the delete is refused with a Conflict naming
// that host and the instance stays, claimed; claimed for this host, it is
// deleted here, its claim given back.
func TestTerminateOnNoHostRacesAClaim(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	e.manager(t, "host-2") // its node, for the claim
	claimFor := func(host string) {
		computemgr.SetTerminateLookedUp(func(u string) {
			if _, err := e.store.Claim(ctx, u, host); err != nil {
				t.Errorf("claim %s for %s: %v", u, host, err)
			}
		})
	}
	t.Cleanup(func() { computemgr.SetTerminateLookedUp(nil) })

	u := e.create(t, tiny)
	claimFor("host-2")
	_, err := e.mgr.TerminateInstance(ctx, computemgr.InstanceRequest{InstanceUUID: u})
	if me, ok := managersError(err); !ok || me.Type != "Conflict" || !strings.Contains(me.Message, "host-2") {
		t.Fatalf("terminate on host-1 of an instance claimed for host-2 meanwhile = %v, want a Conflict naming host-2", err)
	}
	if i := e.get(t, u); i.Deleted || i.Host != "host-2" || i.TaskState == store.Deleting {
		t.Fatalf("after the refused terminate: deleted %v, host %q, task %q; want live on host-2, no deleting task", i.Deleted, i.Host, i.TaskState)
	}

	v := e.create(t, tiny)
	claimFor(e.host)
	i, err := e.mgr.TerminateInstance(ctx, computemgr.InstanceRequest{InstanceUUID: v})
	if err != nil || !i.Deleted {
		t.Fatalf("terminate on host-1 of an instance claimed for host-1 meanwhile = %+v, %v; want it deleted", i, err)
	}
	if n, _ := e.store.Node(ctx, e.host); n.VCPUsUsed != 0 {
		t.Errorf("host-1 usage after the terminate = %+v, want 0", n)
	}
}
