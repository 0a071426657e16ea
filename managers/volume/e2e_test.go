//go:build linux

package volume_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/drivers/compute"
	_ "github.com/novaflow/novaflow/drivers/compute/process"
	"github.com/novaflow/novaflow/drivers/volume/file"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	volumemgr "github.com/novaflow/novaflow/managers/volume"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// TestEndToEnd runs a compute service (process driver: real processes) and a
// volume service (file driver) with the real runtime on the test Temporal
// server and PostgreSQL, and drives a volume through its life with RPC calls
// as another service would: create, attach to a running instance (through
// compute), a refused delete, detach (through compute), delete; the
// periodic usage report runs meanwhile.
func TestEndToEnd(t *testing.T) {
	start := time.Now()
	srv := testenv.Temporal(t)
	dbURL := testenv.Postgres(t)
	tc := srv.Client(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	host := testenv.UniqueName(t, "h")
	stateDir, dataDir := t.TempDir(), t.TempDir()
	config := func(periodic bool) worker.Config {
		cfg := worker.DefaultConfig()
		cfg.Host, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL = host, srv.Address(), srv.Namespace(), dbURL
		cfg.ReportInterval, cfg.ServiceDownTime, cfg.PeriodicEnable, cfg.PeriodicFuzzyDelay = 0, time.Minute, periodic, 0
		cfg.GracefulShutdownTimeout, cfg.LogLevel = 5*time.Second, "warn"
		return cfg
	}
	startService := func(cfg worker.Config, topic string, settings any) *worker.Service {
		t.Helper()
		svc, err := worker.Create(cfg, worker.Options{
			Topic: topic, Temporal: tc, DB: pool, ManagerConfig: settings, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(ctx); err != nil {
			t.Fatalf("start %s: %v", topic, err)
		}
		t.Cleanup(func() { svc.Stop(context.Background()) })
		return svc
	}
	computeSettings := managers.Defaults[computemgr.Settings]()
	computeSettings.Driver, computeSettings.StateDir = "process", stateDir
	startService(config(false), computemgr.Topic, &computeSettings)
	volumeSettings := managers.Defaults[volumemgr.Settings]()
	volumeSettings.Driver, volumeSettings.DataDir = file.Name, dataDir
	volumeSettings.DriverOptions = map[string]string{"mount_root": stateDir}
	volumeSettings.UsageInterval = time.Second
	volumeService := startService(config(true), volumemgr.Topic, &volumeSettings)
	t.Logf("services up in %s", time.Since(start).Round(time.Millisecond))

	c, err := rpc.New(rpc.Options{Temporal: tc})
	if err != nil {
		t.Fatal(err)
	}
	step := func(format string, args ...any) {
		t.Logf("%6s  %s", time.Since(start).Round(time.Millisecond), fmt.Sprintf(format, args...))
	}

	// A running instance on the compute host.
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	inst := uuid.NewString()
	instances := store.New(pool)
	if _, err := instances.CreateInstances(ctx, "req-"+inst, []store.NewInstance{{
		UUID: inst, Name: "vm-1", Flavor: compute.Flavor{Name: "tiny", VCPUs: 1, MemoryMB: 64},
		Image: store.Image{Command: []string{sleep, "600"}},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "compute", "build_and_run_instance", map[string]string{"instance_uuid": inst}, nil, rpc.ToHost(host)); err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(func() { // before the services stop: the process must not outlive the test
		if err := c.Call(context.Background(), "compute", "terminate_instance", map[string]string{"instance_uuid": inst}, nil); err != nil {
			t.Errorf("terminate: %v", err)
		}
	})
	var info computemgr.InstanceInfo
	if err := c.Call(ctx, "compute", "get_instance_info", map[string]string{"instance_uuid": inst}, &info); err != nil {
		t.Fatal(err)
	}
	if info.Driver == nil || info.Driver.PID == 0 {
		t.Fatalf("instance info = %+v, want a running process", info)
	}
	step("instance %s runs as pid %d", inst, info.Driver.PID)

	// Create: any volume host may take it; there is one.
	vol := uuid.NewString()
	var v volumemgr.Volume
	if err := c.Call(ctx, "volume", "create_volume", volumemgr.CreateRequest{VolumeID: vol, Name: "data", SizeGB: 1}, &v); err != nil {
		t.Fatalf("create: %v", err)
	}
	if v.Status != volumemgr.Available || v.Host != host {
		t.Fatalf("created %+v, want available on %s", v, host)
	}
	step("volume %s created", vol)
	waitUsage(t, ctx, pool, host, 1)
	step("report_usage saw it")

	// Attach through compute: it calls volume.attach_volume with the
	// instance's directory.
	v = volumemgr.Volume{}
	if err := c.Call(ctx, "compute", "attach_volume", computemgr.VolumeRequest{InstanceUUID: inst, VolumeID: vol}, &v); err != nil {
		t.Fatalf("attach: %v", err)
	}
	mp := filepath.Join(stateDir, "instances", inst, "volumes", vol)
	if v.Status != volumemgr.InUse || v.InstanceUUID != inst || v.InstanceHost != host || v.Mountpoint != mp {
		t.Fatalf("attached %+v, want in-use by %s at %s", v, inst, mp)
	}
	// The running instance sees it in its working directory.
	seen := filepath.Join("/proc", fmt.Sprint(info.Driver.PID), "cwd", "volumes", vol)
	if fi, err := os.Stat(seen); err != nil || fi.Size() != 1<<30 {
		t.Fatalf("the instance's process does not see its volume at %s: %v", seen, err)
	}
	step("attached: the instance sees volumes/%s", vol)

	// Deleting an attached volume is refused, through RPC, typed.
	err = c.Call(ctx, "volume", "delete_volume", volumemgr.DeleteRequest{VolumeID: vol}, nil)
	if !errors.Is(err, &managers.Error{Type: managers.ConflictType}) || !strings.Contains(err.Error(), "attached to instance "+inst) {
		t.Fatalf("delete of an attached volume = %v, want a Conflict naming the instance", err)
	}
	step("delete refused: %v", err)

	// Errors of the volume service come back through compute as they are.
	err = c.Call(ctx, "compute", "attach_volume", computemgr.VolumeRequest{InstanceUUID: inst, VolumeID: uuid.NewString()}, nil)
	if !errors.Is(err, &managers.Error{Type: managers.NotFoundType}) {
		t.Fatalf("attach of an unknown volume = %v, want NotFound", err)
	}
	err = c.Call(ctx, "compute", "attach_volume", map[string]string{"instance_uuid": inst, "volume_id": "nope"}, nil)
	if !errors.Is(err, &managers.Error{Type: managers.InvalidArgumentType, Field: "volume_id"}) {
		t.Fatalf("attach of a malformed volume ID = %v, want InvalidArgument volume_id", err)
	}

	// compute's record of the instance's volumes (block device mappings):
	// the attached one, not the refused one.
	bdms := func() []string {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT volume_id::text FROM block_device_mappings WHERE instance_uuid = $1`, inst)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := bdms(); len(got) != 1 || got[0] != vol {
		t.Fatalf("block device mappings %v, want [%s]", got, vol)
	}

	// Detach through compute.
	v = volumemgr.Volume{}
	if err := c.Call(ctx, "compute", "detach_volume", computemgr.VolumeRequest{InstanceUUID: inst, VolumeID: vol}, &v); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if v.Status != volumemgr.Available || v.InstanceUUID != "" {
		t.Fatalf("detached %+v, want available", v)
	}
	if _, err := os.Lstat(mp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after detach, %s is still there (%v)", mp, err)
	}
	if got := bdms(); len(got) != 0 {
		t.Fatalf("block device mappings after detach %v, want none", got)
	}
	step("detached")

	v = volumemgr.Volume{}
	if err := c.Call(ctx, "volume", "delete_volume", volumemgr.DeleteRequest{VolumeID: vol}, &v); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if v.Status != volumemgr.Deleted {
		t.Fatalf("deleted %+v, want deleted", v)
	}
	if _, err := os.Stat(filepath.Join(dataDir, vol+".img")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the volume's file is still there (%v)", err)
	}
	step("deleted")
	waitUsage(t, ctx, pool, host, 0)
	step("report_usage saw it go")

	// Terminating the instance detaches its volumes, even when the volume
	// service is down at that moment: compute casts the detach, which runs
	// when the volume service is back.
	vol2 := uuid.NewString()
	if err := c.Call(ctx, "volume", "create_volume", volumemgr.CreateRequest{VolumeID: vol2, Name: "data2", SizeGB: 1}, nil); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := c.Call(ctx, "compute", "attach_volume", computemgr.VolumeRequest{InstanceUUID: inst, VolumeID: vol2}, nil); err != nil {
		t.Fatalf("attach: %v", err)
	}
	volumeService.Stop(ctx)
	step("volume %s attached; volume service stopped", vol2)
	if err := c.Call(ctx, "compute", "terminate_instance", map[string]string{"instance_uuid": inst}, nil); err != nil {
		t.Fatalf("terminate with the volume service down: %v", err)
	}
	if got := bdms(); len(got) != 0 {
		t.Fatalf("block device mappings of the terminated instance %v, want none", got)
	}
	step("instance terminated; the detach of %s waits for the volume service", vol2)
	startService(config(false), volumemgr.Topic, &volumeSettings)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var res volumemgr.ListResult
		if err := c.Call(ctx, "volume", "list_volumes", volumemgr.ListRequest{}, &res); err != nil {
			t.Fatal(err)
		}
		var got volumemgr.Volume
		for _, v := range res.Volumes {
			if v.ID == vol2 {
				got = v
			}
		}
		if got.Status == volumemgr.Available && got.InstanceUUID == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume %s after terminate and the volume service's return: %+v, want available within 30s", vol2, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	step("volume service back: %s detached", vol2)

	// compute recorded its side of each call.
	acts, err := instances.Actions(ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acts {
		got = append(got, a.Action+":"+a.Result)
	}
	for _, want := range []string{"attach_volume:Success", "detach_volume:Success", "delete:Success"} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("instance actions %v lack %s", got, want)
		}
	}
}

// waitUsage waits until report_usage has recorded n volumes on host.
func waitUsage(t *testing.T, ctx context.Context, pool *pgxpool.Pool, host string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var volumes int
		err := pool.QueryRow(ctx, `SELECT volumes FROM volume_usage WHERE host = $1`, host).Scan(&volumes)
		if err == nil && volumes == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume_usage of %s: %d volumes (%v), want %d within 30s", host, volumes, err, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
