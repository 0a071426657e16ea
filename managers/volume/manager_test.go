package volume_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/drivers/volume/fake"
	_ "github.com/novaflow/novaflow/drivers/volume/file"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/managertest"
	volumemgr "github.com/novaflow/novaflow/managers/volume"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newDB returns a pool on a fresh database with the volume service's
// tables, migrated as the runtime does at start.
func newDB(t *testing.T) *pgxpool.Pool { return managertest.Database(t, volumemgr.Topic) }

// newManager returns the volume manager of host on pool, with the fake
// driver and the other settings at their defaults.
func newManager(t *testing.T, pool *pgxpool.Pool, host string) (*volumemgr.Manager, *fake.Driver) {
	t.Helper()
	m, _ := managertest.New[*volumemgr.Manager](t, volumemgr.Topic, managertest.WithDB(pool), managertest.WithHost(host),
		managertest.WithSettings(func(s *volumemgr.Settings) { s.Driver = fake.Name }))
	return m, m.Driver().(*fake.Driver)
}

// wantType fails unless err is a *managers.Error of type typ (and field,
// when given).
func wantType(t *testing.T, err error, typ, field string) *managers.Error {
	t.Helper()
	e, ok := managers.AsError(err)
	if !ok || e.Type != typ || (field != "" && e.Field != field) {
		t.Fatalf("error = %v, want %s (field %q)", err, typ, field)
	}
	return e
}

// TestLifecycle walks one volume through create, attach, a refused delete,
// detach and delete, repeating each step as a retried request would.
func TestLifecycle(t *testing.T) {
	m, drv := newManager(t, newDB(t), "host-1")
	ctx := t.Context()
	id, inst := uuid.NewString(), uuid.NewString()

	v, err := m.CreateVolume(ctx, volumemgr.CreateRequest{VolumeID: id, Name: "data", SizeGB: 2})
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != volumemgr.Available || v.Host != "host-1" || v.SizeGB != 2 || v.Name != "data" {
		t.Fatalf("created volume = %+v, want available data of 2 GiB on host-1", v)
	}
	if again, err := m.CreateVolume(ctx, volumemgr.CreateRequest{VolumeID: id, Name: "data", SizeGB: 2}); err != nil || again.ID != id {
		t.Fatalf("repeated create = %+v, %v; want the same volume", again, err)
	}

	mp := "/srv/compute/instances/" + inst + "/volumes/" + id
	attach := volumemgr.AttachRequest{VolumeID: id, InstanceUUID: inst, InstanceHost: "host-1", Mountpoint: mp}
	v, err = m.AttachVolume(ctx, attach)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != volumemgr.InUse || v.InstanceUUID != inst || v.Mountpoint != mp || v.AttachedAt == nil {
		t.Fatalf("attached volume = %+v, want in-use by %s at %s", v, inst, mp)
	}
	if got, ok := drv.Mountpoint(id); !ok || got != mp {
		t.Fatalf("driver mountpoint = %q, %v; want %q", got, ok, mp)
	}
	if _, err := m.AttachVolume(ctx, attach); err != nil {
		t.Fatalf("repeated attach: %v", err)
	}

	_, err = m.DeleteVolume(ctx, volumemgr.DeleteRequest{VolumeID: id})
	e := wantType(t, err, managers.ConflictType, "")
	if !strings.Contains(e.Message, "attached to instance "+inst) || !strings.Contains(e.Message, "detach it first") {
		t.Fatalf("delete of an attached volume: %q, want it to name the instance and say to detach", e.Message)
	}

	v, err = m.DetachVolume(ctx, volumemgr.DetachRequest{VolumeID: id, InstanceUUID: inst})
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != volumemgr.Available || v.InstanceUUID != "" || v.Mountpoint != "" || v.AttachedAt != nil {
		t.Fatalf("detached volume = %+v, want available, attached to nothing", v)
	}
	if _, ok := drv.Mountpoint(id); ok {
		t.Fatal("the driver still has the volume attached")
	}
	if _, err := m.DetachVolume(ctx, volumemgr.DetachRequest{VolumeID: id}); err != nil {
		t.Fatalf("repeated detach: %v", err)
	}

	v, err = m.DeleteVolume(ctx, volumemgr.DeleteRequest{VolumeID: id})
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != volumemgr.Deleted || v.DeletedAt == nil {
		t.Fatalf("deleted volume = %+v, want deleted", v)
	}
	if _, err := m.DeleteVolume(ctx, volumemgr.DeleteRequest{VolumeID: id}); err != nil {
		t.Fatalf("repeated delete: %v", err)
	}
	if vols, _ := drv.List(ctx); len(vols) != 0 {
		t.Fatalf("the driver still has %+v", vols)
	}
	_, err = m.CreateVolume(ctx, volumemgr.CreateRequest{VolumeID: id, Name: "data", SizeGB: 2})
	wantType(t, err, managers.ConflictType, "")
}

// TestInvalidArgument sends malformed requests as JSON, as the shell does.
func TestInvalidArgument(t *testing.T) {
	m, _ := newManager(t, newDB(t), "host-1")
	const id, inst = `"6c3d1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"`, `"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"`
	tests := []struct {
		method, req, field string
	}{
		{"create_volume", `{"size_gb": 1}`, "volume_id"},
		{"create_volume", `{"volume_id": "vol-1", "size_gb": 1}`, "volume_id"},
		{"create_volume", `{"volume_id": "6C3D1B8E-6C5E-4BB3-9D47-3B5A9F0C2D11", "size_gb": 1}`, "volume_id"},
		{"create_volume", `{"volume_id": ` + id + `}`, "size_gb"},
		{"create_volume", `{"volume_id": ` + id + `, "size_gb": 0}`, "size_gb"},
		{"create_volume", `{"volume_id": ` + id + `, "size_gb": "1"}`, "size_gb"},
		{"create_volume", `{"volume_id": ` + id + `, "size_gb": 1, "name": "` + strings.Repeat("n", 256) + `"}`, "name"},
		{"create_volume", `{"volume_id": ` + id + `, "size_gb": 1, "name": "a\u0000b"}`, "name"},
		{"create_volume", `{"volume_id": ` + id + `, "size_gb": 1, "colour": "red"}`, "colour"},
		{"delete_volume", `{}`, "volume_id"},
		{"attach_volume", `{"volume_id": ` + id + `}`, "instance_uuid"},
		{"attach_volume", `{"volume_id": ` + id + `, "instance_uuid": "vm-1"}`, "instance_uuid"},
		{"attach_volume", `{"volume_id": ` + id + `, "instance_uuid": ` + inst + `, "mountpoint": "volumes/x"}`, "mountpoint"},
		{"attach_volume", `{"volume_id": ` + id + `, "instance_uuid": ` + inst + `, "mountpoint": "/a/../b"}`, "mountpoint"},
		{"detach_volume", `{"volume_id": ` + id + `, "instance_uuid": "x"}`, "instance_uuid"},
		{"list_volumes", `{"status": "lost"}`, "status"},
		{"list_volumes", `{"instance_uuid": "x"}`, "instance_uuid"},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+tt.field, func(t *testing.T) {
			_, err := managertest.Call(t, m, tt.method, tt.req)
			wantType(t, err, managers.InvalidArgumentType, tt.field)
		})
	}
}

func TestNotFound(t *testing.T) {
	m, _ := newManager(t, newDB(t), "host-1")
	id, inst := uuid.NewString(), uuid.NewString()
	for _, tt := range []struct{ method, req string }{
		{"delete_volume", `{"volume_id":"` + id + `"}`},
		{"attach_volume", `{"volume_id":"` + id + `","instance_uuid":"` + inst + `"}`},
		{"detach_volume", `{"volume_id":"` + id + `"}`},
	} {
		_, err := managertest.Call(t, m, tt.method, tt.req)
		if !errors.Is(err, &managers.Error{Type: managers.NotFoundType}) {
			t.Errorf("%s of an unknown volume = %v, want NotFound", tt.method, err)
		}
	}
	if _, err := m.Route(t.Context(), "delete_volume", id); !errors.Is(err, &managers.Error{Type: managers.NotFoundType}) {
		t.Errorf("Route of an unknown volume = %v, want NotFound", err)
	}
}

func TestCreateConflicts(t *testing.T) {
	pool := newDB(t)
	m, _ := newManager(t, pool, "host-1")
	other, _ := newManager(t, pool, "host-2")
	ctx := t.Context()
	id := uuid.NewString()
	if _, err := m.CreateVolume(ctx, volumemgr.CreateRequest{VolumeID: id, SizeGB: 1}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    *volumemgr.Manager
		req  volumemgr.CreateRequest
	}{
		{"another size", m, volumemgr.CreateRequest{VolumeID: id, SizeGB: 2}},
		{"another name", m, volumemgr.CreateRequest{VolumeID: id, SizeGB: 1, Name: "x"}},
		{"another host", other, volumemgr.CreateRequest{VolumeID: id, SizeGB: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.m.CreateVolume(ctx, tt.req)
			wantType(t, err, managers.ConflictType, "")
		})
	}
}

// TestAttachConflicts: one attachment per volume, and a volume is changed
// only on its own host.
func TestAttachConflicts(t *testing.T) {
	pool := newDB(t)
	m, _ := newManager(t, pool, "host-1")
	other, _ := newManager(t, pool, "host-2")
	ctx := t.Context()
	id, a, b := uuid.NewString(), uuid.NewString(), uuid.NewString()
	if _, err := m.CreateVolume(ctx, volumemgr.CreateRequest{VolumeID: id, SizeGB: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AttachVolume(ctx, volumemgr.AttachRequest{VolumeID: id, InstanceUUID: a}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"attach to another instance", func() error {
			_, err := m.AttachVolume(ctx, volumemgr.AttachRequest{VolumeID: id, InstanceUUID: b})
			return err
		}, "attached to instance " + a},
		{"detach from another instance", func() error {
			_, err := m.DetachVolume(ctx, volumemgr.DetachRequest{VolumeID: id, InstanceUUID: b})
			return err
		}, "it is attached to instance " + a},
		{"attach on another host", func() error {
			_, err := other.AttachVolume(ctx, volumemgr.AttachRequest{VolumeID: id, InstanceUUID: a})
			return err
		}, "it is on host host-1"},
		{"delete on another host", func() error {
			_, err := other.DeleteVolume(ctx, volumemgr.DeleteRequest{VolumeID: id})
			return err
		}, "it is on host host-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := wantType(t, tt.run(), managers.ConflictType, "")
			if !strings.Contains(e.Message, tt.want) {
				t.Fatalf("message %q, want it to say %q", e.Message, tt.want)
			}
		})
	}
	// Any host routes the calls to the volume's host.
	if host, err := other.Route(ctx, "detach_volume", id); err != nil || host != "host-1" {
		t.Fatalf("Route = %q, %v; want host-1", host, err)
	}
}

// TestDriverFailures: a failure that may pass is retried from where it
// stopped; a final one leaves the volume as it should be.
func TestDriverFailures(t *testing.T) {
	m, drv := newManager(t, newDB(t), "host-1")
	ctx := t.Context()

	// A create that fails untyped stays creating, and its retry finishes it.
	id := uuid.NewString()
	drv.FailNext(fake.OpCreate, errors.New("disk hiccup"))
	if _, err := m.CreateVolume(ctx, volumemgr.CreateRequest{VolumeID: id, SizeGB: 1}); err == nil || managersError(err) {
		t.Fatalf("create with a failing driver = %v, want an untyped (retried) error", err)
	}
	assertStatus(t, m, id, volumemgr.Creating)
	if v, err := m.CreateVolume(ctx, volumemgr.CreateRequest{VolumeID: id, SizeGB: 1}); err != nil || v.Status != volumemgr.Available {
		t.Fatalf("retried create = %+v, %v; want available", v, err)
	}

	// An attach that fails leaves the volume available, attached to nothing.
	drv.FailNext(fake.OpAttach, errors.New("link failed"))
	if _, err := m.AttachVolume(ctx, volumemgr.AttachRequest{VolumeID: id, InstanceUUID: uuid.NewString()}); err == nil {
		t.Fatal("attach with a failing driver succeeded")
	}
	assertStatus(t, m, id, volumemgr.Available)

	// A delete that fails stays deleting; its retry finishes it.
	drv.FailNext(fake.OpDelete, errors.New("busy disk"))
	if _, err := m.DeleteVolume(ctx, volumemgr.DeleteRequest{VolumeID: id}); err == nil {
		t.Fatal("delete with a failing driver succeeded")
	}
	assertStatus(t, m, id, volumemgr.Deleting)
	if v, err := m.DeleteVolume(ctx, volumemgr.DeleteRequest{VolumeID: id}); err != nil || v.Status != volumemgr.Deleted {
		t.Fatalf("retried delete = %+v, %v; want deleted", v, err)
	}
}

func managersError(err error) bool { _, ok := managers.AsError(err); return ok }

func assertStatus(t *testing.T, m *volumemgr.Manager, id string, want volumemgr.Status) {
	t.Helper()
	res, err := m.ListVolumes(t.Context(), volumemgr.ListRequest{Deleted: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Volumes {
		if v.ID == id {
			if v.Status != want {
				t.Fatalf("volume %s is %s, want %s", id, v.Status, want)
			}
			return
		}
	}
	t.Fatalf("volume %s not listed", id)
}

func TestListVolumes(t *testing.T) {
	m, _ := newManager(t, newDB(t), "host-1")
	ctx := t.Context()
	inst := uuid.NewString()
	var ids []string
	for range 3 {
		id := uuid.NewString()
		ids = append(ids, id)
		if _, err := m.CreateVolume(ctx, volumemgr.CreateRequest{VolumeID: id, SizeGB: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.AttachVolume(ctx, volumemgr.AttachRequest{VolumeID: ids[1], InstanceUUID: inst}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.DeleteVolume(ctx, volumemgr.DeleteRequest{VolumeID: ids[2]}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  volumemgr.ListRequest
		want []string
	}{
		{"live", volumemgr.ListRequest{}, ids[:2]},
		{"with deleted", volumemgr.ListRequest{Deleted: true}, ids},
		{"by instance", volumemgr.ListRequest{InstanceUUID: inst}, ids[1:2]},
		{"by status", volumemgr.ListRequest{Status: volumemgr.Available}, ids[:1]},
		{"nothing", volumemgr.ListRequest{InstanceUUID: uuid.NewString()}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := m.ListVolumes(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range res.Volumes {
				got = append(got, v.ID)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("listed %v, want %v", got, tt.want)
			}
		})
	}
	// The JSON of an empty list is a list, for the shell.
	out, err := managertest.Call(t, m, "list_volumes", `{"instance_uuid":"`+uuid.NewString()+`"}`)
	if err != nil || out != `{"volumes":[]}` {
		t.Fatalf("list_volumes = %s, %v; want an empty list", out, err)
	}
}

func TestReportUsage(t *testing.T) {
	pool := newDB(t)
	m, _ := newManager(t, pool, "host-1")
	ctx := t.Context()
	for _, size := range []int{1, 3} {
		if _, err := m.CreateVolume(ctx, volumemgr.CreateRequest{VolumeID: uuid.NewString(), SizeGB: size}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.ReportUsage(ctx); err != nil {
		t.Fatal(err)
	}
	var volumes, provisioned, capacity, free int64
	err := pool.QueryRow(ctx, `SELECT volumes, provisioned_gb, capacity_bytes, free_bytes FROM volume_usage WHERE host = $1`,
		"host-1").Scan(&volumes, &provisioned, &capacity, &free)
	if err != nil {
		t.Fatal(err)
	}
	if volumes != 2 || provisioned != 4 || capacity != fake.DefaultCapacityGB<<30 || free != capacity-4<<30 {
		t.Fatalf("volume_usage = %d volumes, %d GB, capacity %d, free %d; want 2, 4, the fake's capacity less 4 GiB",
			volumes, provisioned, capacity, free)
	}
}

func TestPeriodicTasks(t *testing.T) {
	pool := newDB(t)
	tests := []struct {
		name     string
		interval string
		disabled bool
	}{
		{"default", "", false},
		{"negative disables", "-1s", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := managers.Defaults[volumemgr.Settings]()
			cfg.Driver = fake.Name
			if tt.interval != "" {
				cfg = volumemgr.Settings{}
				if err := (worker.Env{"NOVAFLOW_VOLUME_USAGE_INTERVAL": tt.interval}).Decode(&cfg); err != nil {
					t.Fatal(err)
				}
				cfg.Driver = fake.Name
			}
			m, err := volumemgr.New(managers.Deps{Host: "h", DB: pool, Config: &cfg})
			if err != nil {
				t.Fatal(err)
			}
			defer m.CleanupHost(context.Background())
			tasks := m.PeriodicTasks()
			if len(tasks) != 1 || tasks[0].Name != "report_usage" || tasks[0].Disabled != tt.disabled {
				t.Fatalf("PeriodicTasks = %+v, want report_usage disabled=%v", tasks, tt.disabled)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	pool := newDB(t)
	tests := []struct {
		name string
		deps managers.Deps
		want string
	}{
		{"unknown driver", managers.Deps{Host: "h", DB: pool, Config: &volumemgr.Settings{Driver: "nfs"}},
			`NOVAFLOW_VOLUME_DRIVER: unknown volume driver "nfs" (forgotten import?); registered: fake, file`},
		{"no database", managers.Deps{Host: "h"}, "no database"},
		{"wrong settings", managers.Deps{Host: "h", DB: pool, Config: &struct{}{}}, "want *volume.Settings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := volumemgr.New(tt.deps)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
