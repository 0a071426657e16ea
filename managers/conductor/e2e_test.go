package conductor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/conductor"
	_ "github.com/novaflow/novaflow/managers/conductor"
	_ "github.com/novaflow/novaflow/managers/scheduler"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// cloud is a small control plane on the test's database and the shared
// Temporal server: compute services on hosts with the fake driver, a
// scheduler and a conductor, all started by the real runtime.
type cloud struct {
	t     *testing.T
	pool  *pgxpool.Pool
	store *store.Store
	tc    client.Client
	dbURL string
	srv   *testenv.TemporalServer
	hosts []string
	drv   map[string]*fake.Driver
	// gated are the compute hosts' drivers when they are gatedDriverName's.
	gated  map[string]*gatedDriver
	driver string // NOVAFLOW_COMPUTE_DRIVER of the compute services
	buildQ string
}

func newCloud(t *testing.T, computeHosts int) *cloud {
	t.Helper()
	return newCloudWith(t, computeHosts, fake.Name)
}

// newCloudWith is newCloud with the compute services on driver (fake.Name
// or gatedDriverName).
func newCloudWith(t *testing.T, computeHosts int, driver string) *cloud {
	t.Helper()
	ctx := context.Background()
	c := &cloud{t: t, dbURL: testenv.Postgres(t), srv: testenv.Temporal(t), drv: map[string]*fake.Driver{},
		gated: map[string]*gatedDriver{}, driver: driver}
	pool, err := db.Open(ctx, c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var defs []managers.Definition
	for _, name := range managers.Names() {
		def, _ := managers.Lookup(name)
		defs = append(defs, def)
	}
	if err := worker.Migrate(ctx, pool, defs...); err != nil {
		t.Fatal(err)
	}
	c.pool, c.store, c.tc = pool, store.New(pool), c.srv.Client(t)

	for i := range computeHosts {
		host := testenv.UniqueName(t, fmt.Sprintf("h%d", i+1))
		svc := c.start("compute", host)
		c.hosts = append(c.hosts, host)
		switch d := svc.Manager().(*computemgr.Manager).Driver().(type) {
		case *gatedDriver:
			c.drv[host], c.gated[host] = d.Driver, d
		default:
			c.drv[host] = d.(*fake.Driver)
		}
	}
	c.start("scheduler", testenv.UniqueName(t, "sched"))
	c.start("conductor", testenv.UniqueName(t, "cond"))

	// The conductor service runs the build workflows on its own queue, as
	// `temporal workflow execute --task-queue conductor` uses them.
	c.buildQ = conductor.Topic
	return c
}

// start starts the service of topic on host with the runtime.
func (c *cloud) start(topic, host string) *worker.Service {
	c.t.Helper()
	cfg := worker.DefaultConfig()
	cfg.Host, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL = host, c.srv.Address(), c.srv.Namespace(), c.dbURL
	cfg.ReportInterval, cfg.ServiceDownTime, cfg.PeriodicEnable = 0, time.Minute, false
	cfg.GracefulShutdownTimeout, cfg.LogLevel = 5*time.Second, "warn"
	svc, err := worker.Create(cfg, worker.Options{Topic: topic, Temporal: c.tc, DB: c.pool,
		Logger: slog.New(slog.DiscardHandler), Env: worker.Env{"NOVAFLOW_COMPUTE_DRIVER": c.driver}})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		c.t.Fatalf("start %s on %s: %v", topic, host, err)
	}
	c.t.Cleanup(func() { svc.Stop(context.Background()) })
	return svc
}

// build runs conductor.build_instances with input (JSON) and returns its
// result, from its BuildFailed details when it failed.
func (c *cloud) build(input string) (conductor.BuildResult, error) {
	c.t.Helper()
	res, _, err := c.buildID(input)
	return res, err
}

// buildID is build, returning the workflow ID too.
func (c *cloud) buildID(input string) (conductor.BuildResult, string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := testenv.UniqueName(c.t, "build")
	run, err := c.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: c.buildQ,
	}, conductor.BuildInstancesName, json.RawMessage(input))
	if err != nil {
		c.t.Fatal(err)
	}
	var res conductor.BuildResult
	err = run.Get(ctx, &res)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == conductor.BuildFailedType {
		if derr := appErr.Details(&res); derr != nil {
			c.t.Fatalf("BuildFailed details: %v", derr)
		}
	}
	return res, id, err
}

var defaultIdentity = regexp.MustCompile(`"identity":\s*"\d+@[^"]*"`)

var record = flag.Bool("record", false, "write the histories of a build with a reschedule to testdata, for its replay test")

// releaseSuffix ends the names of the histories recorded by this build:
// "_next" for the next release (-tags novaflow_next, next_test.go).
var releaseSuffix string

// recordHistory writes the history of workflow id to file in
// testdata, as `temporal workflow show --output json` does.
func (c *cloud) recordHistory(id, file string) {
	c.t.Helper()
	ctx := context.Background()
	iter := c.tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			c.t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&h)
	if err != nil {
		c.t.Fatal(err)
	}
	// The SDK's default identities and its sticky queues name this
	// machine: keep them out.
	b = defaultIdentity.ReplaceAll(b, []byte(`"identity": "test"`))
	if host, err := os.Hostname(); err == nil && host != "" {
		b = bytes.ReplaceAll(b, []byte(`"`+host+`:`), []byte(`"recorder:`))
	}
	if err := os.WriteFile(filepath.Join("testdata", file), b, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cloud) actions(u string) []string {
	c.t.Helper()
	as, err := c.store.Actions(context.Background(), u)
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		host := a.Host
		for i, h := range c.hosts {
			if h == host {
				host = fmt.Sprintf("h%d", i+1)
			}
		}
		out = append(out, strings.TrimSuffix(a.Action+"@"+host, "@")+":"+a.Result)
	}
	return out
}

func TestBuildEndToEnd(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t, 2)
	start := time.Now()
	res, err := c.build(`{"name":"web","count":2,"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]}}`)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Logf("build of 2 instances took %s", time.Since(start).Round(time.Millisecond))
	if len(res.Instances) != 2 {
		t.Fatalf("result = %+v", res)
	}
	used := map[string]bool{}
	for i, b := range res.Instances {
		if b.VMState != "active" || !slices.Contains(c.hosts, b.Host) || b.Name != fmt.Sprintf("web-%d", i+1) {
			t.Errorf("instance %d = %+v", i, b)
		}
		used[b.Host] = true
		inst, err := c.store.Get(ctx, b.UUID)
		if err != nil {
			t.Fatal(err)
		}
		if inst.VMState != store.Active || inst.PowerState != compute.Running || inst.Host != b.Host {
			t.Errorf("instance row = %+v", inst)
		}
		if info, err := c.drv[b.Host].Info(ctx, b.UUID); err != nil || info.PowerState != compute.Running {
			t.Errorf("the driver of %s reports %+v, %v", b.Host, info, err)
		}
		if got := c.actions(b.UUID); len(got) != 2 || got[0] != "create:Success" || !strings.HasPrefix(got[1], "build@h") {
			t.Errorf("actions = %v", got)
		}
	}
	if len(used) != 2 {
		t.Errorf("spread put both instances on %v, want one per host", used)
	}

	// Power operations over RPC: on the first instance addressed to its host,
	// on the second with only its UUID, so that the call finds its host (the
	// compute manager is a managers.Router), as nova's compute API does.
	rc, err := rpc.New(rpc.Options{Temporal: c.tc})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range res.Instances {
		var opts []rpc.CallOption
		if i == 0 {
			opts = append(opts, rpc.ToHost(b.Host))
		}
		for _, step := range []struct {
			method string
			req    map[string]any
			want   store.VMState
		}{
			{"stop_instance", map[string]any{"instance_uuid": b.UUID}, store.Stopped},
			{"start_instance", map[string]any{"instance_uuid": b.UUID}, store.Active},
			{"reboot_instance", map[string]any{"instance_uuid": b.UUID, "reboot_type": "HARD"}, store.Active},
			{"terminate_instance", map[string]any{"instance_uuid": b.UUID}, store.Deleted},
		} {
			var inst store.Instance
			if err := rc.Call(ctx, "compute", step.method, step.req, &inst, opts...); err != nil {
				t.Fatalf("instance %d: %s: %v", i, step.method, err)
			}
			if inst.VMState != step.want || inst.Host != b.Host {
				t.Fatalf("instance %d: %s: vm_state %s on %s, want %s on %s", i, step.method, inst.VMState, inst.Host, step.want, b.Host)
			}
		}
		if _, err := c.drv[b.Host].Info(ctx, b.UUID); !errors.Is(err, compute.ErrNotFound) {
			t.Errorf("the driver still has the terminated instance: %v", err)
		}
	}

	// A call for an instance that does not exist fails as NotFound at once.
	unknown := map[string]any{"instance_uuid": "0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"}
	err = rc.Call(ctx, "compute", "stop_instance", unknown, nil)
	if e, ok := managers.AsError(err); !ok || e.Type != managers.NotFoundType {
		t.Fatalf("stop of an unknown instance: %v, want NotFound", err)
	}
}

func TestBuildReschedules(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t, 3)
	boom := errors.New("hypervisor on fire")

	// The first host (by name: every host is empty, so spread ties) fails.
	c.drv[c.hosts[0]].Fail(fake.OpSpawn, "", boom)
	u := uuid.NewString()
	res, id, err := c.buildID(`{"name":"db","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["` + u + `"]}`)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if *record {
		// The next release's (-tags novaflow_next) beside the current one's.
		c.recordHistory(id, "build_instances_versioned"+releaseSuffix+".json")
		c.recordHistory(id+"/"+u, "build_instance_rescheduled_versioned"+releaseSuffix+".json")
	}
	b := res.Instances[0]
	if b.VMState != "active" || b.Host != c.hosts[1] || len(b.Attempts) != 2 || b.Attempts[0].Host != c.hosts[0] {
		t.Fatalf("instance = %+v, want active on the second host after one failure", b)
	}
	if got, want := c.actions(u), []string{"create:Success", "build@h1:Error", "build@h2:Success"}; !slices.Equal(got, want) {
		t.Errorf("actions = %v, want %v", got, want)
	}
	if n, _ := c.store.Node(ctx, c.hosts[0]); n.VCPUsUsed != 0 {
		t.Errorf("the failed host keeps a claim: %+v", n)
	}

	// Every host fails: ERROR after three attempts.
	for _, h := range c.hosts {
		c.drv[h].Fail(fake.OpSpawn, "", boom)
	}
	u = uuid.NewString()
	res, err = c.build(`{"name":"db","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["` + u + `"]}`)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != conductor.BuildFailedType {
		t.Fatalf("build error = %v, want BuildFailed", err)
	}
	b = res.Instances[0]
	if b.VMState != "error" || len(b.Attempts) != 3 || !strings.Contains(b.Fault, "Exceeded maximum number of retries") {
		t.Fatalf("instance = %+v, want error after 3 attempts", b)
	}
	inst, err := c.store.Get(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if inst.VMState != store.Error || inst.TaskState != store.NoTask || inst.Host != "" || !strings.Contains(inst.Fault, "hypervisor on fire") {
		t.Errorf("instance row = %+v", inst)
	}
	got := c.actions(u)
	if len(got) != 4 || got[0] != "create:Error" {
		t.Errorf("actions = %v, want create:Error and three failed builds", got)
	}
	for _, h := range c.hosts {
		if n, _ := c.store.Node(ctx, h); h != c.hosts[1] && n.VCPUsUsed != 0 {
			t.Errorf("host %s keeps a claim of the failed build: %+v", h, n)
		}
	}
}

func TestBuildNoHostFits(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t, 1)
	u := uuid.NewString()
	res, err := c.build(`{"name":"huge","flavor":{"vcpus":1000,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["` + u + `"]}`)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != conductor.BuildFailedType {
		t.Fatalf("build error = %v, want BuildFailed", err)
	}
	if b := res.Instances[0]; b.VMState != "error" || !strings.Contains(b.Fault, "NoValidHost") {
		t.Errorf("instance = %+v", b)
	}
	inst, err := c.store.Get(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if inst.VMState != store.Error || !strings.Contains(inst.Fault, "No valid host was found") {
		t.Errorf("instance row = %+v", inst)
	}
	if got := c.actions(u); !slices.Equal(got, []string{"create:Error"}) {
		t.Errorf("actions = %v", got)
	}
}
