package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/scheduler"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type env struct {
	url      string
	pool     *pgxpool.Pool
	store    *store.Store
	services *servicegroup.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	url := testenv.Postgres(t)
	pool, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	def, err := managers.Lookup(scheduler.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Migrate(ctx, pool, def); err != nil {
		t.Fatal(err)
	}
	return &env{url: url, pool: pool, store: store.New(pool), services: servicegroup.NewStore(pool)}
}

// addHost registers a compute service on host that is up, with a node of
// the given capacity.
func (e *env) addHost(t *testing.T, host string, vcpus, memoryMB, diskGB int) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.services.Register(ctx, host, "novaflow-compute", "compute", 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.services.Report(ctx, host, "novaflow-compute", "compute", 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateNode(ctx, host, compute.Resources{VCPUs: vcpus, MemoryMB: memoryMB, DiskGB: diskGB}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) scheduler(t *testing.T, strategy string) *scheduler.Manager {
	t.Helper()
	cfg := managers.Defaults[scheduler.Settings]()
	cfg.Strategy = strategy
	m, err := scheduler.New(managers.Deps{Host: "sched", Topic: "scheduler", DB: e.pool,
		Logger: slog.New(slog.DiscardHandler), Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// instances creates n instance rows of flavor and returns their UUIDs.
func (e *env) instances(t *testing.T, n int, f compute.Flavor) []string {
	t.Helper()
	var news []store.NewInstance
	var uuids []string
	for range n {
		u := uuid.NewString()
		uuids = append(uuids, u)
		news = append(news, store.NewInstance{UUID: u, Flavor: f, Image: store.Image{Command: []string{"true"}}})
	}
	if _, err := e.store.CreateInstances(context.Background(), "req-"+uuid.NewString(), news); err != nil {
		t.Fatal(err)
	}
	return uuids
}

var small = compute.Flavor{Name: "small", VCPUs: 1, MemoryMB: 1024, DiskGB: 1}

func selectJSON(t *testing.T, m *scheduler.Manager, req string) (scheduler.SelectResponse, error) {
	t.Helper()
	meth, ok := managers.MethodByName(m, "select_destinations")
	if !ok {
		t.Fatal("no method select_destinations")
	}
	out, err := meth.Call(context.Background(), []byte(req))
	if err != nil {
		return scheduler.SelectResponse{}, err
	}
	var resp scheduler.SelectResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	return resp, nil
}

func hostsOf(resp scheduler.SelectResponse) []string {
	var out []string
	for _, d := range resp.Destinations {
		out = append(out, d.Host+"+"+strings.Join(d.Alternates, ","))
	}
	return out
}

func TestSelectDestinations(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.addHost(t, "h1", 8, 4096, 100)
	e.addHost(t, "h2", 8, 8192, 100)
	e.addHost(t, "h3", 8, 2048, 100)
	e.addHost(t, "h4", 8, 16384, 100) // down
	if _, err := e.services.SetForcedDown(ctx, "h4", "novaflow-compute", true); err != nil {
		t.Fatal(err)
	}
	e.addHost(t, "h5", 8, 16384, 100) // disabled
	if _, err := e.services.SetDisabled(ctx, "h5", "novaflow-compute", true, "maintenance"); err != nil {
		t.Fatal(err)
	}
	e.addHost(t, "h6", 8, 16384, 100) // its reports stopped long ago
	if _, err := e.pool.Exec(ctx, `UPDATE services SET last_seen_up = now() - interval '1 hour' WHERE host = 'h6'`); err != nil {
		t.Fatal(err)
	}
	e.addHost(t, "h7", 8, 512, 100) // too small

	tests := []struct {
		name     string
		strategy string
		req      string
		want     []string
		wantType string
	}{
		{name: "spread", strategy: "spread",
			req:  `{"flavor":{"vcpus":1,"memory_mb":1024,"disk_gb":1}}`,
			want: []string{"h2+h1,h3"}},
		{name: "pack", strategy: "pack",
			req:  `{"flavor":{"vcpus":1,"memory_mb":1024,"disk_gb":1}}`,
			want: []string{"h3+h1,h2"}},
		{name: "spread two instances", strategy: "spread",
			req:  `{"flavor":{"vcpus":1,"memory_mb":3072,"disk_gb":1},"num_instances":2}`,
			want: []string{"h2+h1", "h2+h1"}},
		{name: "spread consumes as it goes", strategy: "spread",
			req:  `{"flavor":{"vcpus":1,"memory_mb":4096,"disk_gb":1},"num_instances":3}`,
			want: []string{"h2+h1", "h1+h2", "h2+"}},
		{name: "ignore hosts", strategy: "spread",
			req:  `{"flavor":{"vcpus":1,"memory_mb":1024,"disk_gb":1},"ignore_hosts":["h2"]}`,
			want: []string{"h1+h3"}},
		{name: "max attempts", strategy: "spread",
			req:  `{"flavor":{"vcpus":1,"memory_mb":1024,"disk_gb":1},"max_attempts":2}`,
			want: []string{"h2+h1"}},
		{name: "one attempt, no alternates", strategy: "pack",
			req:  `{"flavor":{"vcpus":1,"memory_mb":1024,"disk_gb":1},"max_attempts":1}`,
			want: []string{"h3+"}},
		{name: "nothing fits", strategy: "spread",
			req:      `{"flavor":{"vcpus":9,"memory_mb":1024,"disk_gb":1}}`,
			wantType: scheduler.NoValidHostType},
		{name: "not all fit", strategy: "spread",
			req:      `{"flavor":{"vcpus":1,"memory_mb":8192,"disk_gb":1},"num_instances":2}`,
			wantType: scheduler.NoValidHostType},
		{name: "bad flavor", strategy: "spread",
			req:      `{"flavor":{"vcpus":0,"memory_mb":1024,"disk_gb":1}}`,
			wantType: "InvalidArgument"},
		{name: "no flavor", strategy: "spread",
			req: `{"num_instances":1}`, wantType: "InvalidArgument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := selectJSON(t, e.scheduler(t, tt.strategy), tt.req)
			if tt.wantType != "" {
				if me, ok := managers.AsError(err); !ok || me.Type != tt.wantType {
					t.Fatalf("error = %v, want type %s", err, tt.wantType)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := hostsOf(resp); !slices.Equal(got, tt.want) {
				t.Errorf("destinations = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNoValidHostSaysWhy(t *testing.T) {
	e := newEnv(t)
	e.addHost(t, "h1", 2, 2048, 10)
	_, err := selectJSON(t, e.scheduler(t, "spread"), `{"flavor":{"vcpus":4,"memory_mb":64,"disk_gb":1}}`)
	want := "NoValidHost: No valid host was found for instance 1 of the request: 1 compute hosts; ResourceFilter removed 1"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestSelectClaimsNamedInstances(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.addHost(t, "h1", 4, 4096, 100)
	e.addHost(t, "h2", 4, 2048, 100)
	m := e.scheduler(t, "spread")
	uuids := e.instances(t, 2, small)
	req := scheduler.SelectRequest{Flavor: small, InstanceUUIDs: uuids}
	resp, err := m.SelectDestinations(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range resp.Destinations {
		inst, _ := e.store.Get(ctx, uuids[i])
		if d.InstanceUUID != uuids[i] || inst.Host != d.Host {
			t.Errorf("destination %d = %+v, instance host %q", i, d, inst.Host)
		}
	}
	if got := hostsOf(resp); !slices.Equal(got, []string{"h1+h2", "h1+h2"}) {
		t.Errorf("destinations = %v", got)
	}
	n, _ := e.store.Node(ctx, "h1")
	if n.VCPUsUsed != 2 || n.MemoryMBUsed != 2048 {
		t.Errorf("h1 usage = %+v, want two claims", n)
	}
	// The same request again (a retried activity) claims nothing more.
	again, err := m.SelectDestinations(ctx, req)
	if err != nil || again.Destinations[0].Host != "h1" || again.Destinations[1].Host != "h1" {
		t.Fatalf("repeated select = %+v, %v", again, err)
	}
	if n, _ := e.store.Node(ctx, "h1"); n.VCPUsUsed != 2 {
		t.Errorf("h1 usage after a repeated select = %+v", n)
	}

	// All or nothing: only the first of these fits (on h2), so its claim is
	// released when the second finds no host.
	big := compute.Flavor{VCPUs: 3, MemoryMB: 1024, DiskGB: 1}
	more := e.instances(t, 2, big)
	_, err = m.SelectDestinations(ctx, scheduler.SelectRequest{Flavor: big, InstanceUUIDs: more})
	if me, ok := managers.AsError(err); !ok || me.Type != scheduler.NoValidHostType {
		t.Fatalf("error = %v, want NoValidHost", err)
	}
	for _, u := range more {
		if inst, _ := e.store.Get(ctx, u); inst.Host != "" {
			t.Errorf("instance %s kept its claim on %s after NoValidHost", u, inst.Host)
		}
	}
	if n, _ := e.store.Node(ctx, "h2"); n.VCPUsUsed != 0 {
		t.Errorf("h2 usage = %+v, want the failed request's claims released", n)
	}
}

func TestConcurrentClaimsDoNotOverCommit(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.addHost(t, "h1", 4, 65536, 1000)
	e.addHost(t, "h2", 3, 65536, 1000)
	const requests = 20
	uuids := e.instances(t, requests, small)
	m := e.scheduler(t, "spread")
	other := e.scheduler(t, "pack") // two scheduler services at once

	var wg sync.WaitGroup
	errs := make([]error, requests)
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := m
			if i%2 == 1 {
				s = other
			}
			_, errs[i] = s.SelectDestinations(ctx, scheduler.SelectRequest{Flavor: small, InstanceUUIDs: uuids[i : i+1]})
		}()
	}
	wg.Wait()
	placed := 0
	for i, err := range errs {
		switch me, ok := managers.AsError(err); {
		case err == nil:
			placed++
		case ok && me.Type == scheduler.NoValidHostType:
		default:
			t.Errorf("request %d: %v", i, err)
		}
	}
	if placed != 7 {
		t.Errorf("%d instances placed, want 7 (4 + 3 vCPUs)", placed)
	}
	for _, h := range []struct {
		host  string
		vcpus int
	}{{"h1", 4}, {"h2", 3}} {
		n, err := e.store.Node(ctx, h.host)
		if err != nil {
			t.Fatal(err)
		}
		var claimed int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM instances WHERE host = $1`, h.host).Scan(&claimed); err != nil {
			t.Fatal(err)
		}
		if n.VCPUsUsed != h.vcpus || claimed != h.vcpus {
			t.Errorf("%s: vcpus_used %d, %d instances claimed; want %d", h.host, n.VCPUsUsed, claimed, h.vcpus)
		}
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		cfg  scheduler.Settings
		want string
	}{
		{scheduler.Settings{Strategy: "nope", MaxAttempts: 3}, `NOVAFLOW_SCHEDULER_STRATEGY: unknown scheduler strategy "nope" (forgotten import?); registered: pack, spread`},
		{scheduler.Settings{Strategy: "spread", MaxAttempts: 0}, "NOVAFLOW_SCHEDULER_MAX_ATTEMPTS: must be at least 1, got 0"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.cfg), func(t *testing.T) {
			_, err := scheduler.New(managers.Deps{DB: e.pool, Config: &tt.cfg})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("New = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := scheduler.New(managers.Deps{DB: e.pool}); err != nil {
		t.Errorf("New with default settings: %v", err)
	}
}

// TestDefaultSettings keeps the defaults users know (docs/configuration.md).
func TestDefaultSettings(t *testing.T) {
	if got, want := managers.Defaults[scheduler.Settings](), (scheduler.Settings{Strategy: "spread", MaxAttempts: 3}); got != want {
		t.Errorf("Defaults = %+v, want %+v", got, want)
	}
}

// TestDownTimeFollowsReset: the scheduler judges compute services with the
// runtime's effective service_down_time (managers.Deps.DownTime), so that
// after a Service.Reset (SIGHUP) with a new NOVAFLOW_SERVICE_DOWN_TIME its
// up or down judgement is the runtime's new one.
func TestDownTimeFollowsReset(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.addHost(t, "h1", 8, 4096, 100)
	// Last seen 40 s ago: down with the default 25 s, up with 60 s.
	if _, err := e.pool.Exec(ctx, `UPDATE services SET last_seen_up = now() - interval '40 seconds' WHERE host = 'h1'`); err != nil {
		t.Fatal(err)
	}
	srv := testenv.Temporal(t)
	cfg := worker.DefaultConfig()
	cfg.Host, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL = testenv.UniqueName(t, "sched"), srv.Address(), srv.Namespace(), e.url
	cfg.ReportInterval, cfg.PeriodicEnable, cfg.LogLevel = 0, false, "warn"
	env := worker.Env{"NOVAFLOW_REPORT_INTERVAL": "0s", "NOVAFLOW_PERIODIC_ENABLE": "false"}
	svc, err := worker.Create(cfg, worker.Options{
		Topic: scheduler.Topic, Temporal: srv.Client(t), DB: e.pool, Logger: slog.New(slog.DiscardHandler),
		Reload: func() (worker.Env, error) { return env, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	m := svc.Manager().(*scheduler.Manager)
	req := `{"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1}}`

	_, err = selectJSON(t, m, req)
	if me, ok := managers.AsError(err); !ok || me.Type != scheduler.NoValidHostType {
		t.Fatalf("with service_down_time 25s, a host last seen 40 s ago: %v, want NoValidHost (down)", err)
	}
	env = env.With("NOVAFLOW_SERVICE_DOWN_TIME=60s")
	if err := svc.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := selectJSON(t, m, req)
	if got := hostsOf(resp); err != nil || len(got) != 1 || !strings.HasPrefix(got[0], "h1+") {
		t.Fatalf("after a reset to service_down_time 60s: %v, %v; want h1 (up)", got, err)
	}
}
