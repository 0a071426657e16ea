package conductor_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/conductor"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

func newConductor(t *testing.T) (*conductor.Manager, *store.Store) {
	t.Helper()
	ctx := context.Background()
	pool, err := db.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	def, err := managers.Lookup(conductor.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Migrate(ctx, pool, def); err != nil {
		t.Fatal(err)
	}
	m, err := conductor.New(managers.Deps{Host: "c1", DB: pool, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return m, store.New(pool)
}

func method(m managers.Manager, name string) managers.Method {
	meth, ok := managers.MethodByName(m, name)
	if !ok {
		panic("no method " + name)
	}
	return meth
}

func TestCreateInstancesValidates(t *testing.T) {
	m, _ := newConductor(t)
	u := uuid.NewString()
	tests := []struct {
		name, req, field string
	}{
		{"no instances", `{"request_id":"r","flavor":{"vcpus":1,"memory_mb":1,"disk_gb":0},"image":{"command":["x"]},"instances":[]}`, "instances"},
		{"bad uuid", `{"request_id":"r","flavor":{"vcpus":1,"memory_mb":1,"disk_gb":0},"image":{"command":["x"]},"instances":[{"uuid":"vm-1"}]}`, "instances[0].uuid"},
		{"zero vcpus", `{"request_id":"r","flavor":{"vcpus":0,"memory_mb":1,"disk_gb":0},"image":{"command":["x"]},"instances":[{"uuid":"` + u + `"}]}`, "flavor.vcpus"},
		{"empty program", `{"request_id":"r","flavor":{"vcpus":1,"memory_mb":1,"disk_gb":0},"image":{"command":[""]},"instances":[{"uuid":"` + u + `"}]}`, "image.command[0]"},
		{"bad env", `{"request_id":"r","flavor":{"vcpus":1,"memory_mb":1,"disk_gb":0},"image":{"command":["x"],"env":["A"]},"instances":[{"uuid":"` + u + `"}]}`, "image.env[0]"},
		{"no image", `{"request_id":"r","flavor":{"vcpus":1,"memory_mb":1,"disk_gb":0},"instances":[{"uuid":"` + u + `"}]}`, "image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := method(m, "create_instances").Call(context.Background(), []byte(tt.req))
			if e, ok := managers.AsError(err); !ok || e.Type != managers.InvalidArgumentType || e.Field != tt.field {
				t.Fatalf("error = %v, want InvalidArgument on %s", err, tt.field)
			}
		})
	}
}

func TestBuildSteps(t *testing.T) {
	ctx := context.Background()
	m, s := newConductor(t)
	u := uuid.NewString()
	req := `{"request_id":"req-1","flavor":{"name":"m1","vcpus":2,"memory_mb":256,"disk_gb":1},
		"image":{"command":["sleep","60"],"env":["A=1"]},"instances":[{"uuid":"` + u + `","name":"web"}]}`
	for range 2 { // repeated: the activity may run twice
		out, err := method(m, "create_instances").Call(ctx, []byte(req))
		if err != nil {
			t.Fatal(err)
		}
		var resp conductor.CreateResponse
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.Instances) != 1 {
			t.Fatalf("create_instances = %s, %v", out, err)
		}
		i := resp.Instances[0]
		if i.VMState != store.Building || i.TaskState != store.Scheduling || i.Name != "web" || i.Flavor.VCPUs != 2 ||
			!slices.Equal(i.Image.Env, []string{"A=1"}) {
			t.Fatalf("instance = %+v", i)
		}
	}
	if _, err := s.UpdateNode(ctx, "h1", compute.Resources{VCPUs: 2, MemoryMB: 1024, DiskGB: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateNode(ctx, "small", compute.Resources{VCPUs: 1, MemoryMB: 1024, DiskGB: 10}); err != nil {
		t.Fatal(err)
	}
	claim := func(host string) error {
		_, err := m.ClaimInstance(ctx, conductor.ClaimRequest{InstanceUUID: u, DestHost: host})
		return err
	}
	if err := claim("small"); !isType(err, managers.ConflictType) {
		t.Errorf("claim on a host without room = %v, want Conflict", err)
	}
	if err := claim("nowhere"); !isType(err, managers.ConflictType) {
		t.Errorf("claim on a host without a node = %v, want Conflict", err)
	}
	if err := claim("h1"); err != nil {
		t.Fatal(err)
	}
	if err := claim("h1"); err != nil {
		t.Errorf("repeated claim = %v", err)
	}
	if n, _ := s.Node(ctx, "h1"); n.VCPUsUsed != 2 {
		t.Errorf("node after claim = %+v", n)
	}
	for range 2 {
		if _, err := m.ReleaseClaim(ctx, conductor.ClaimRequest{InstanceUUID: u, DestHost: "h1"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.Node(ctx, "h1"); n.VCPUsUsed != 0 {
		t.Errorf("node after release = %+v", n)
	}
	inst, err := m.FinishBuild(ctx, conductor.FinishRequest{InstanceUUID: u, RequestID: "req-1", Fault: "No valid host"})
	if err != nil {
		t.Fatal(err)
	}
	if inst.VMState != store.Error || inst.TaskState != store.NoTask || inst.Fault != "No valid host" {
		t.Errorf("instance after a failed build = %+v", inst)
	}
	as, _ := s.Actions(ctx, u)
	if len(as) != 1 || as[0].Action != "create" || as[0].Result != store.ResultError || as[0].Message != "No valid host" || as[0].FinishTime == nil {
		t.Errorf("actions = %+v", as)
	}
	if _, err := m.ClaimInstance(ctx, conductor.ClaimRequest{InstanceUUID: uuid.NewString(), DestHost: "h1"}); !isType(err, managers.NotFoundType) {
		t.Errorf("claim of an unknown instance = %v, want NotFound", err)
	}
}

func isType(err error, typ string) bool {
	e, ok := managers.AsError(err)
	return ok && e.Type == typ
}

// TestClaimOfADeletingInstanceIsRefused: claim_instance of an instance
// whose terminate has begun fails at once with a Conflict (not retried) of
// field task_state (store.DeletingField, at which a build stops) naming the
// instance and its task_state, and claims nothing.
func TestClaimOfADeletingInstanceIsRefused(t *testing.T) {
	ctx := context.Background()
	m, s := newConductor(t)
	u := uuid.NewString()
	req := `{"request_id":"req-1","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},
		"image":{"command":["true"]},"instances":[{"uuid":"` + u + `"}]}`
	if _, err := method(m, "create_instances").Call(ctx, []byte(req)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateNode(ctx, "h1", compute.Resources{VCPUs: 2, MemoryMB: 1024, DiskGB: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, u, store.Cond{NoHost: true}, store.Set{TaskState: store.Deleting}); err != nil {
		t.Fatal(err)
	}
	_, err := m.ClaimInstance(ctx, conductor.ClaimRequest{InstanceUUID: u, DestHost: "h1"})
	if e, ok := managers.AsError(err); !ok || e.Type != managers.ConflictType || e.Retryable() ||
		!strings.Contains(e.Message, u) || !strings.Contains(e.Message, "task_state deleting") ||
		e.Field != store.DeletingField || !store.IsDeleting(err) {
		t.Fatalf("claim of a deleting instance = %v, want a Conflict of field task_state naming it and task_state deleting", err)
	}
	if n, _ := s.Node(ctx, "h1"); n.VCPUsUsed != 0 {
		t.Errorf("node after the refused claim = %+v", n)
	}
}

// TestFinishBuildLeavesADeletingInstance: finish_build with a fault sets a
// building instance to ERROR, but leaves one being deleted as its
// terminate left it (building, deleting, no fault: the delete wins) and
// says so in the instance it returns; the "create" action ends with the
// fault either way.
func TestFinishBuildLeavesADeletingInstance(t *testing.T) {
	ctx := context.Background()
	m, s := newConductor(t)
	us := []string{uuid.NewString(), uuid.NewString()}
	req := `{"request_id":"req-1","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},
		"image":{"command":["true"]},"instances":[{"uuid":"` + us[0] + `"},{"uuid":"` + us[1] + `"}]}`
	if _, err := method(m, "create_instances").Call(ctx, []byte(req)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, us[1], store.Cond{NoHost: true}, store.Set{TaskState: store.Deleting}); err != nil {
		t.Fatal(err)
	}
	for i, u := range us {
		inst, err := m.FinishBuild(ctx, conductor.FinishRequest{InstanceUUID: u, RequestID: "req-1", Fault: "no host"})
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			if inst.VMState != store.Error || inst.TaskState != store.NoTask || inst.Fault != "no host" || inst.BeingDeleted() {
				t.Errorf("building instance after finish_build = %+v, want ERROR with the fault", inst)
			}
		case 1:
			if inst.VMState != store.Building || inst.TaskState != store.Deleting || inst.Fault != "" || !inst.BeingDeleted() {
				t.Errorf("deleting instance after finish_build = %+v, want it left building, deleting, no fault", inst)
			}
		}
		as, err := s.Actions(ctx, u)
		if err != nil || len(as) != 1 || as[0].Result != store.ResultError || as[0].Message != "no host" {
			t.Errorf("actions of instance %d = %+v, %v; want the create action ended in Error with the fault", i, as, err)
		}
	}
}
