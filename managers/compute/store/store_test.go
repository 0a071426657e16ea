package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newStore(t *testing.T) *store.Store { return store.New(newPool(t)) }

// newPool returns a pool on a fresh database with the compute schema.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := db.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	schema := managers.Schema{Name: store.SchemaName, Migrations: store.Migrations()}
	if err := worker.MigrateSchemas(ctx, pool, nil, append(worker.Schemas(), schema)...); err != nil {
		t.Fatal(err)
	}
	return pool
}

func create(t *testing.T, s *store.Store, n int, f compute.Flavor) []string {
	t.Helper()
	var news []store.NewInstance
	var out []string
	for range n {
		u := uuid.NewString()
		out = append(out, u)
		news = append(news, store.NewInstance{UUID: u, Flavor: f, Image: store.Image{Command: []string{"true"}}})
	}
	if _, err := s.CreateInstances(context.Background(), "req-"+uuid.NewString(), news); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConcurrentClaimsNeverOverCommit(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.UpdateNode(ctx, "h1", compute.Resources{VCPUs: 64, MemoryMB: 5 * 512, DiskGB: 1000}); err != nil {
		t.Fatal(err)
	}
	uuids := create(t, s, 40, compute.Flavor{VCPUs: 1, MemoryMB: 512, DiskGB: 1})
	var wg sync.WaitGroup
	errs := make([]error, len(uuids))
	for i, u := range uuids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Claim(ctx, u, "h1")
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		var ie *store.InsufficientError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ie):
			if ie.Resource != "memory_mb" || ie.Requested != 512 {
				t.Errorf("insufficient = %+v", ie)
			}
		default:
			t.Errorf("claim: %v", err)
		}
	}
	n, _ := s.Node(ctx, "h1")
	if ok != 5 || n.MemoryMBUsed != 5*512 || n.VCPUsUsed != 5 {
		t.Errorf("%d claims succeeded, node %+v; want 5 and memory full", ok, n)
	}
}

func TestClaimRules(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for _, h := range []string{"h1", "h2"} {
		if _, err := s.UpdateNode(ctx, h, compute.Resources{VCPUs: 4, MemoryMB: 4096, DiskGB: 10}); err != nil {
			t.Fatal(err)
		}
	}
	u := create(t, s, 1, compute.Flavor{VCPUs: 2, MemoryMB: 1024, DiskGB: 1})[0]
	tests := []struct {
		name string
		host string
		want error
	}{
		{"first claim", "h1", nil},
		{"same host again", "h1", nil},
		{"another host", "h2", store.ErrClaimed},
		{"no node", "h9", store.ErrNoNode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Claim(ctx, u, tt.host); !errors.Is(err, tt.want) {
				t.Fatalf("Claim(%s) = %v, want %v", tt.host, err, tt.want)
			}
		})
	}
	if n, _ := s.Node(ctx, "h1"); n.VCPUsUsed != 2 {
		t.Errorf("h1 = %+v, want one claim counted once", n)
	}
	if err := s.Release(ctx, u, "h2"); err != nil { // not claimed there: nothing happens
		t.Fatal(err)
	}
	if i, _ := s.Get(ctx, u); i.Host != "h1" {
		t.Errorf("a release on another host moved the claim: %+v", i)
	}
	if _, err := s.MarkDeleted(ctx, u); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Node(ctx, "h1"); n.VCPUsUsed != 0 {
		t.Errorf("h1 after delete = %+v", n)
	}
	if _, err := s.Claim(ctx, u, "h2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim of a deleted instance = %v, want ErrNotFound", err)
	}
}

func TestUpdateConditions(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	u := create(t, s, 1, compute.Flavor{VCPUs: 1, MemoryMB: 1, DiskGB: 0})[0]
	tests := []struct {
		name string
		cond store.Cond
		set  store.Set
		want error
	}{
		{"wrong vm state", store.Cond{VMStates: []store.VMState{store.Active}}, store.Set{TaskState: store.PoweringOff}, store.ErrConflict},
		{"wrong task", store.Cond{TaskStates: []store.TaskState{store.NoTask}}, store.Set{}, store.ErrConflict},
		{"wrong host", store.Cond{Host: "h1"}, store.Set{}, store.ErrConflict},
		{"to error", store.Cond{TaskStates: []store.TaskState{store.Scheduling}}, store.Set{VMState: store.Error, Fault: "boom"}, nil},
		{"out of error", store.Cond{VMStates: []store.VMState{store.Error}}, store.Set{VMState: store.Active, PowerState: compute.Running}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Update(ctx, u, tt.cond, tt.set)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Update = %v, want %v", err, tt.want)
			}
		})
	}
	i, _ := s.Get(ctx, u)
	if i.VMState != store.Active || i.Fault != "" || i.LaunchedAt == nil || i.TaskState != store.NoTask {
		t.Errorf("instance = %+v, want active, fault cleared, launched", i)
	}
	if _, err := s.Update(ctx, uuid.NewString(), store.Cond{}, store.Set{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update of an unknown instance = %v", err)
	}
}

// TestUpdateNoHost: Cond.NoHost holds while the instance is on no host and
// fails with a ConflictError holding the instance once it is claimed.
func TestUpdateNoHost(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.UpdateNode(ctx, "h1", compute.Resources{VCPUs: 4, MemoryMB: 4096, DiskGB: 10}); err != nil {
		t.Fatal(err)
	}
	us := create(t, s, 2, compute.Flavor{VCPUs: 1, MemoryMB: 64, DiskGB: 1})
	if _, err := s.Update(ctx, us[0], store.Cond{NoHost: true}, store.Set{TaskState: store.Deleting}); err != nil {
		t.Fatalf("update of an instance on no host, on no host: %v", err)
	}
	if _, err := s.Claim(ctx, us[1], "h1"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Update(ctx, us[1], store.Cond{NoHost: true}, store.Set{TaskState: store.Deleting})
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Current.Host != "h1" {
		t.Fatalf("update of an instance on h1, on no host: %v, want a ConflictError showing h1", err)
	}
	if i, err := s.Get(ctx, us[1]); err != nil || i.TaskState == store.Deleting {
		t.Fatalf("instance after the refused update: %+v, %v", i, err)
	}
}

// TestClaimRefusesADeletingInstance: an instance whose terminate has begun
// (task_state deleting) is not claimed, on no host or on its own host, so
// a claim cannot race the delete; the refusal is a ConflictError showing
// the instance's state, and no usage is counted.
func TestClaimRefusesADeletingInstance(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.UpdateNode(ctx, "h1", compute.Resources{VCPUs: 4, MemoryMB: 4096, DiskGB: 10}); err != nil {
		t.Fatal(err)
	}
	us := create(t, s, 2, compute.Flavor{VCPUs: 1, MemoryMB: 64, DiskGB: 1})
	if _, err := s.Update(ctx, us[0], store.Cond{NoHost: true}, store.Set{TaskState: store.Deleting}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, us[1], "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, us[1], store.Cond{Host: "h1"}, store.Set{TaskState: store.Deleting}); err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		_, err := s.Claim(ctx, u, "h1")
		var ce *store.ConflictError
		if !errors.As(err, &ce) || !errors.Is(err, store.ErrConflict) || ce.Current.TaskState != store.Deleting ||
			!strings.Contains(err.Error(), u) || !strings.Contains(err.Error(), "task_state deleting") {
			t.Errorf("claim of deleting instance %s = %v, want a ConflictError naming it and task_state deleting", u, err)
		}
	}
	if i, _ := s.Get(ctx, us[0]); i.Host != "" {
		t.Errorf("the refused claim moved the instance to %q", i.Host)
	}
	if n, _ := s.Node(ctx, "h1"); n.VCPUsUsed != 1 {
		t.Errorf("h1 = %+v, want only the earlier claim counted", n)
	}
}

// TestReleaseLeavesADeletingInstance: a release (a failed build's, or the
// conductor's after a host timed out) does not take an instance being
// deleted off its host: its terminate's updates are conditional on the
// host, and the terminate gives the claim back when it deletes the row.
func TestReleaseLeavesADeletingInstance(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.UpdateNode(ctx, "h1", compute.Resources{VCPUs: 4, MemoryMB: 4096, DiskGB: 10}); err != nil {
		t.Fatal(err)
	}
	u := create(t, s, 1, compute.Flavor{VCPUs: 1, MemoryMB: 64, DiskGB: 1})[0]
	if _, err := s.Claim(ctx, u, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, u, store.Cond{Host: "h1"}, store.Set{TaskState: store.Deleting}); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, u, "h1"); err != nil {
		t.Fatal(err)
	}
	if i, _ := s.Get(ctx, u); i.Host != "h1" {
		t.Errorf("the release took the deleting instance to host %q", i.Host)
	}
	if n, _ := s.Node(ctx, "h1"); n.VCPUsUsed != 1 {
		t.Errorf("h1 = %+v, want the deleting instance's claim kept", n)
	}
	if _, err := s.MarkDeleted(ctx, u); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Node(ctx, "h1"); n.VCPUsUsed != 0 {
		t.Errorf("h1 after the delete = %+v, want the claim given back", n)
	}
}
