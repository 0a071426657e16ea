package telemetry_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/internal/db"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/telemetry"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"

	// The build runs on the reference control plane's managers, with the
	// fake compute driver.
	_ "github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/managers/conductor"
	_ "github.com/novaflow/novaflow/managers/scheduler"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// otelEnv are the variables telemetry.Setup reads; the tests clear them.
var otelEnv = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
}

// stack is services started by the runtime (worker.Run) with telemetry on:
// spans in memory, metrics on the health address's /metrics.
type stack struct {
	spans   *tracetest.InMemoryExporter
	tel     *telemetry.Telemetry
	cfg     worker.Config
	health  string // host:port of /healthz and /metrics
	tc      client.Client
	pool    *pgxpool.Pool
	logs    *testenv.Buffer
	metrics *http.Client
}

// newStack starts a compute service and one of each of topics on a host of
// the test, sharing a process as in novaflow dev.
func newStack(t *testing.T, topics ...string) *stack {
	t.Helper()
	for _, k := range otelEnv {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	ctx := context.Background()
	st := &stack{spans: tracetest.NewInMemoryExporter(), logs: &testenv.Buffer{}, metrics: &http.Client{Timeout: 10 * time.Second}}
	logger := worker.NewLogger(st.logs, worker.Config{LogFormat: "json", LogLevel: "debug"}, nil)
	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "novaflow-compute", Prometheus: true, SpanExporter: st.spans, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	st.tel = tel
	t.Cleanup(func() {
		_ = tel.Shutdown(context.Background())
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
	})

	srv := testenv.Temporal(t)
	st.cfg = worker.DefaultConfig()
	st.cfg.Host, st.cfg.TemporalAddress, st.cfg.TemporalNamespace = testenv.UniqueName(t, "h"), srv.Address(), srv.Namespace()
	st.cfg.DatabaseURL = testenv.Postgres(t)
	st.cfg.ReportInterval, st.cfg.ServiceDownTime, st.cfg.PeriodicFuzzyDelay = time.Second, time.Minute, 0
	st.cfg.GracefulShutdownTimeout, st.cfg.LogFormat, st.cfg.LogLevel, st.cfg.Versioning = 5*time.Second, "json", "debug", worker.VersioningOff
	var services []*worker.Service
	for _, topic := range append([]string{computemgr.Topic}, topics...) {
		svc, err := worker.Create(st.cfg, worker.Options{Topic: topic, Logger: logger, Env: worker.Env{"NOVAFLOW_COMPUTE_DRIVER": "fake"}})
		if err != nil {
			t.Fatal(err)
		}
		services = append(services, svc)
	}
	health := worker.NewHealth(services...)
	health.Handle("/metrics", tel.Handler())
	runCtx, stop := context.WithCancel(ctx)
	started, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- worker.Run(runCtx, worker.RunOptions{
			Logger: logger, Health: health, HealthAddress: "127.0.0.1:0",
			Signals: make(chan os.Signal), Started: func() { close(started) },
		}, services...)
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, st.logs)
	case <-time.After(2 * time.Minute):
		t.Fatal("the service did not start in 2 minutes")
	}
	t.Cleanup(func() {
		stop()
		<-done
	})
	st.health = health.Addr()

	// A caller of our own, as a program using package rpc would have.
	st.tc, err = worker.Dial(ctx, st.cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.tc.Close)
	st.pool, err = db.Open(ctx, st.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.pool.Close)
	return st
}

// waitSpans waits until match finds what it wants among the ended spans.
func (st *stack) waitSpans(t *testing.T, what string, match func(tracetest.SpanStubs) bool) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans := st.spans.GetSpans()
		if match(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in 30s; spans:\n%s", what, describe(spans))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrape returns the service's /metrics.
func (st *stack) scrape(t *testing.T) string {
	t.Helper()
	resp, err := st.metrics.Get("http://" + st.health + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, b)
	}
	return string(b)
}

// TestRPCCallIsOneTrace: a Call, from the Go client through the workflow, the
// activity, the manager method, the driver and each SQL statement, is one
// connected trace; /metrics then shows the call on both sides.
func TestRPCCallIsOneTrace(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()

	u := uuid.NewString()
	if _, err := store.New(st.pool).CreateInstances(ctx, "req-create-"+u, []store.NewInstance{{
		UUID: u, Name: "vm-1", Flavor: compute.Flavor{Name: "m1.tiny", VCPUs: 1, MemoryMB: 64, DiskGB: 1},
		Image: store.Image{Command: []string{"sleep", "3600"}},
	}}); err != nil {
		t.Fatal(err)
	}
	c, err := rpc.New(rpc.Options{Temporal: st.tc})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var out store.Instance
	if err := c.Call(ctx, computemgr.Topic, "build_and_run_instance", computemgr.InstanceRequest{InstanceUUID: u}, &out, rpc.ToHost(st.cfg.Host)); err != nil {
		t.Fatalf("build_and_run_instance: %v\n%s", err, st.logs)
	}
	took := time.Since(start)
	if out.VMState != store.Active {
		t.Fatalf("instance %s is %s", u, out.VMState)
	}
	// A typed error is an outcome of its own.
	if err := c.Call(ctx, computemgr.Topic, "reboot_instance", computemgr.RebootRequest{InstanceUUID: uuid.NewString()}, nil, rpc.ToHost(st.cfg.Host)); err == nil {
		t.Fatal("rebooting an unknown instance succeeded")
	}

	const root = "call compute.build_and_run_instance"
	want := []string{
		root,
		"StartWorkflow:compute.build_and_run_instance",
		"RunWorkflow:compute.build_and_run_instance",
		"StartActivity:compute.build_and_run_instance",
		"RunActivity:compute.build_and_run_instance",
		"compute.build_and_run_instance",
		"compute.driver Spawn",
	}
	var tr tracetest.SpanStubs
	st.waitSpans(t, "complete trace of the call", func(all tracetest.SpanStubs) bool {
		r, ok := find(all, func(s tracetest.SpanStub) bool { return s.Name == root })
		if !ok {
			return false
		}
		tr = inTrace(all, r.SpanContext.TraceID())
		for _, name := range want {
			if _, ok := find(tr, func(s tracetest.SpanStub) bool { return s.Name == name }); !ok {
				return false
			}
		}
		return true
	})
	t.Logf("the call took %s; its trace has %d spans:\n%s", took.Round(time.Millisecond), len(tr), describe(tr))

	// Connected: one root, every other span's parent is in the trace.
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range tr {
		byID[s.SpanContext.SpanID()] = s
	}
	for _, s := range tr {
		if s.Name == root {
			if s.Parent.IsValid() {
				t.Errorf("the call's span has a parent: %v", s.Parent)
			}
			continue
		}
		if _, ok := byID[s.Parent.SpanID()]; !ok {
			t.Errorf("span %q has its parent outside the trace", s.Name)
		}
	}
	// The chain, each a descendant of the one before.
	chainOf := func(s tracetest.SpanStub) []string {
		var names []string
		for {
			names = append(names, s.Name)
			p, ok := byID[s.Parent.SpanID()]
			if !ok {
				return names
			}
			s = p
		}
	}
	spawn, _ := find(tr, func(s tracetest.SpanStub) bool { return s.Name == "compute.driver Spawn" })
	chain := chainOf(spawn)
	slices.Reverse(chain)
	if !slices.Equal(chain, want) {
		t.Errorf("the driver call's ancestry is %v, want %v", chain, want)
	}
	var sql []string
	for _, s := range tr {
		if attrOf(s, "db.system.name") == "postgresql" {
			sql = append(sql, s.Name)
			if p := chainOf(s); !slices.Contains(p, "compute.build_and_run_instance") {
				t.Errorf("SQL span %q is not under the manager method: %v", s.Name, p)
			}
			if strings.Contains(attrOf(s, "db.query.text"), "$1") && attrOf(s, "pgx.query.parameters") != "" {
				t.Errorf("SQL span %q carries the statement's parameters", s.Name)
			}
		}
	}
	if len(sql) < 3 {
		t.Errorf("%d SQL spans under the call, want each statement: %v", len(sql), sql)
	}
	if m, _ := find(tr, func(s tracetest.SpanStub) bool { return s.Name == "compute.build_and_run_instance" }); attrOf(m, "novaflow.outcome") != "ok" {
		t.Errorf("manager span outcome %q", attrOf(m, "novaflow.outcome"))
	}

	// The services gauge, the RPC metrics of both sides, the status reports,
	// the Temporal SDK's metrics and the SQL durations, on /metrics.
	st.waitSpans(t, "a status report", func(all tracetest.SpanStubs) bool {
		_, ok := find(all, func(s tracetest.SpanStub) bool { return s.Name == "report compute" })
		return ok
	})
	if _, err := worker.TriggerPeriodic(ctx, st.tc, computemgr.Topic, "", "update_available_resource"); err != nil {
		t.Fatal(err)
	}
	st.waitSpans(t, "a periodic run", func(all tracetest.SpanStubs) bool {
		_, ok := find(all, func(s tracetest.SpanStub) bool { return s.Name == "periodic compute.update_available_resource" })
		return ok
	})
	text := st.scrape(t)
	for _, re := range []string{
		`rpc_client_call_duration_seconds_count\{novaflow_rpc_kind="call",rpc_method="compute.build_and_run_instance",rpc_system_name="novaflow"\} 1`,
		`rpc_client_call_duration_seconds_count\{error_type="NotFound",novaflow_rpc_kind="call",rpc_method="compute.reboot_instance",rpc_system_name="novaflow"\} 1`,
		`rpc_server_call_duration_seconds_count\{rpc_method="compute.build_and_run_instance",rpc_system_name="novaflow"\} 1`,
		`rpc_server_call_duration_seconds_count\{error_type="NotFound",rpc_method="compute.reboot_instance",rpc_system_name="novaflow"\} 1`,
		`rpc_server_call_duration_seconds_bucket\{rpc_method="compute.build_and_run_instance",rpc_system_name="novaflow",le="[0-9.+Inf]+"\}`,
		`novaflow_periodic_runs_total\{outcome="ok",task="update_available_resource",topic="compute"\} [1-9]`,
		`novaflow_periodic_duration_seconds_count\{outcome="ok",task="update_available_resource",topic="compute"\} [1-9]`,
		`novaflow_periodic_lag_seconds_count\{task="update_available_resource",topic="compute"\} [1-9]`,
		`novaflow_housekeeping_duration_seconds_count\{activity="periodic",topic="compute"\} [1-9]`,
		`novaflow_housekeeping_duration_seconds_count\{activity="report_state",topic="compute"\} [1-9]`,
		`novaflow_housekeeping_duration_seconds_count\{activity="up_hosts",topic="compute"\} [1-9]`,
		`novaflow_reports_total\{outcome="sent",topic="compute"\} [1-9]`,
		`novaflow_services\{state="up",status="enabled",topic="compute"\} [1-9]`,
		`novaflow_services\{state="down",status="enabled",topic="compute"\} 0`,
		`temporal_request_total\{`,
		`temporal_activity_execution_latency_seconds_bucket\{`,
		`temporal_workflow_completed_total\{`,
		`db_client_operation_duration_seconds_bucket\{`,
		`target_info\{.*service_name="novaflow-compute"`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("/metrics lacks %s", re)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepPrefix(text, "novaflow_", "temporal_request_total", "db_client"))
	}
	checkDocs(t, text)
}

// TestScheduledRunsHaveTheirOwnTraces: every run a schedule starts is the
// root of a trace of its own (report, periodic task), though the schedules
// were created by a traced client. The SDK's tracing interceptor alone puts
// all the runs of a schedule in the trace of its creation.
func TestScheduledRunsHaveTheirOwnTraces(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()

	// A report run reports every interval for ten minutes, so its
	// RunWorkflow span ends (and is exported) only then: its reports, two
	// of them, stand for it. Their trace is the run's.
	reports := func(all tracetest.SpanStubs) tracetest.SpanStubs {
		return filter(all, func(s tracetest.SpanStub) bool { return s.Name == "StartActivity:compute.report_state" })
	}
	all := st.waitSpans(t, "two status reports", func(all tracetest.SpanStubs) bool { return len(reports(all)) >= 2 })
	var runs tracetest.SpanStubs
	if a, b := reports(all)[0], reports(all)[1]; a.SpanContext.TraceID() != b.SpanContext.TraceID() {
		t.Errorf("two reports of one run are in two traces: %s, %s", a.SpanContext.TraceID(), b.SpanContext.TraceID())
	}
	reportTrace := reports(all)[0].SpanContext.TraceID()
	for i := 0; i < 2; i++ {
		if _, err := worker.TriggerPeriodic(ctx, st.tc, computemgr.Topic, "", "update_available_resource"); err != nil {
			t.Fatal(err)
		}
		n := i + 1
		all = st.waitSpans(t, "periodic runs", func(all tracetest.SpanStubs) bool {
			return len(filter(all, func(s tracetest.SpanStub) bool {
				return s.Name == "RunWorkflow:compute.periodic.update_available_resource"
			})) >= n
		})
	}
	runs = append(runs, filter(all, func(s tracetest.SpanStub) bool {
		return s.Name == "RunWorkflow:compute.periodic.update_available_resource"
	})...)

	creations := filter(all, func(s tracetest.SpanStub) bool { return strings.HasPrefix(s.Name, "CreateSchedule:") })
	if len(creations) == 0 {
		t.Fatalf("no CreateSchedule span: the schedules were not created by a traced client\n%s", describe(all))
	}
	seen := map[trace.TraceID]string{}
	for _, c := range creations {
		seen[c.SpanContext.TraceID()] = c.Name
	}
	if other, dup := seen[reportTrace]; dup {
		t.Errorf("the status reports are in the trace of %s", other)
	}
	if tr := inTrace(all, reportTrace); !slices.ContainsFunc(tr, func(s tracetest.SpanStub) bool { return s.Name == "report compute" }) ||
		!slices.ContainsFunc(tr, func(s tracetest.SpanStub) bool { return attrOf(s, "db.system.name") == "postgresql" }) {
		t.Errorf("the trace of the status reports lacks the report's work down to SQL:\n%s", describe(tr))
	}
	seen[reportTrace] = "the status report run"
	for _, r := range runs {
		id := r.SpanContext.TraceID()
		if r.Parent.IsValid() {
			t.Errorf("%s (%s) has a parent span: %v", r.Name, attrOf(r, "temporalWorkflowID"), r.Parent)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s (%s) is in the trace of %s", r.Name, attrOf(r, "temporalWorkflowID"), other)
		}
		seen[id] = r.Name
		// Each run's trace has the work itself, down to SQL.
		tr := inTrace(all, id)
		work := "report compute"
		if strings.Contains(r.Name, "periodic") {
			work = "periodic compute.update_available_resource"
		}
		if _, ok := find(tr, func(s tracetest.SpanStub) bool { return s.Name == work }); !ok {
			t.Errorf("the trace of %s lacks %q:\n%s", attrOf(r, "temporalWorkflowID"), work, describe(tr))
		}
		if _, ok := find(tr, func(s tracetest.SpanStub) bool { return attrOf(s, "db.system.name") == "postgresql" }); !ok {
			t.Errorf("the trace of %s has no SQL span:\n%s", attrOf(r, "temporalWorkflowID"), describe(tr))
		}
	}
	t.Logf("%d scheduled runs, %d traces", len(runs), len(seen)-len(creations))
}

func find(spans tracetest.SpanStubs, f func(tracetest.SpanStub) bool) (tracetest.SpanStub, bool) {
	for _, s := range spans {
		if f(s) {
			return s, true
		}
	}
	return tracetest.SpanStub{}, false
}

func filter(spans tracetest.SpanStubs, f func(tracetest.SpanStub) bool) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if f(s) {
			out = append(out, s)
		}
	}
	return out
}

func inTrace(spans tracetest.SpanStubs, id trace.TraceID) tracetest.SpanStubs {
	return filter(spans, func(s tracetest.SpanStub) bool { return s.SpanContext.TraceID() == id })
}

func attrOf(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if a.Key == attribute.Key(key) {
			return a.Value.Emit()
		}
	}
	return ""
}

// describe lists spans as an indented tree per trace, for failure messages.
func describe(spans tracetest.SpanStubs) string {
	children := map[trace.SpanID][]tracetest.SpanStub{}
	ids := map[trace.SpanID]bool{}
	for _, s := range spans {
		ids[s.SpanContext.SpanID()] = true
	}
	var roots []tracetest.SpanStub
	for _, s := range spans {
		if p := s.Parent.SpanID(); s.Parent.IsValid() && ids[p] {
			children[p] = append(children[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	sort.SliceStable(roots, func(i, j int) bool { return roots[i].StartTime.Before(roots[j].StartTime) })
	var b strings.Builder
	var walk func(s tracetest.SpanStub, depth int)
	walk = func(s tracetest.SpanStub, depth int) {
		b.WriteString(strings.Repeat("  ", depth) + s.Name + " [" + s.SpanContext.TraceID().String()[:8] + "] " +
			s.EndTime.Sub(s.StartTime).Round(10*time.Microsecond).String() + "\n")
		kids := children[s.SpanContext.SpanID()]
		sort.SliceStable(kids, func(i, j int) bool { return kids[i].StartTime.Before(kids[j].StartTime) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}

func grepPrefix(text string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// checkDocs: docs/observability.md lists every novaflow and RPC metric
// /metrics serves, and serves every one it lists (but the old names, in the
// section that lists what they were renamed to).
func checkDocs(t *testing.T, text string) {
	t.Helper()
	doc, err := os.ReadFile("../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE ((?:novaflow|rpc)_[a-z_]+) `).FindAllStringSubmatch(text, -1) {
		served[m[1]] = true
	}
	current, _, ok := strings.Cut(string(doc), "### Renamed")
	if !ok {
		t.Fatal("docs/observability.md has no section ### Renamed")
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `((?:novaflow|rpc)_[a-z_]+)` \\|").FindAllStringSubmatch(current, -1) {
		documented[m[1]] = true
	}
	for name := range served {
		if !documented[name] {
			t.Errorf("docs/observability.md does not list %s", name)
		}
	}
	for name := range documented {
		if served[name] {
			continue
		}
		// A metric of a feature this stack runs without: its row must say
		// that it is served only with the feature on.
		if setting, ok := onlyWith[name]; ok {
			row := regexp.MustCompile("(?m)^\\| `" + name + "` \\|.*$").FindString(current)
			if !strings.Contains(row, "with `"+setting+"` on") {
				t.Errorf("docs/observability.md's row of %s does not say it is served only with `%s` on", name, setting)
			}
			continue
		}
		t.Errorf("docs/observability.md lists %s, which /metrics does not serve", name)
	}
}

// onlyWith are the metrics served only with a setting on that the test's
// stack leaves off, by the setting.
var onlyWith = map[string]string{
	"novaflow_authz_decisions_total": "NOVAFLOW_AUTH",
}

// TestScheduleHeader shows why ClientOptions creates schedules without the
// tracing header: with the SDK's tracing interceptor alone, the runs of a
// schedule are all children of its creation, in one trace.
func TestScheduleHeader(t *testing.T) {
	for _, k := range otelEnv {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{SpanExporter: spans, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tel.Shutdown(context.Background())
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
	})
	srv := testenv.Temporal(t)
	contribAlone := func() client.Options {
		i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return client.Options{Interceptors: []interceptor.ClientInterceptor{i}}
	}
	cases := []struct {
		name      string
		opts      client.Options
		sameTrace bool
	}{
		{"contrib interceptor alone", contribAlone(), true},
		{"telemetry.ClientOptions", telemetry.ClientOptions(client.Options{}), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			opts := c.opts
			opts.HostPort, opts.Namespace, opts.Logger = srv.Address(), srv.Namespace(), sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
			tc, err := client.DialContext(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer tc.Close()
			queue := testenv.UniqueName(t, "q")
			w := sdkworker.New(tc, queue, sdkworker.Options{})
			w.RegisterWorkflowWithOptions(func(workflow.Context) error { return nil }, workflow.RegisterOptions{Name: "noop"})
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			defer w.Stop()

			id := testenv.UniqueName(t, "sched")
			h, err := tc.ScheduleClient().Create(ctx, client.ScheduleOptions{
				ID:     id,
				Spec:   client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
				Action: &client.ScheduleWorkflowAction{ID: id, Workflow: "noop", TaskQueue: queue},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Delete(ctx)
			runsOf := func(all tracetest.SpanStubs) tracetest.SpanStubs {
				return filter(all, func(s tracetest.SpanStub) bool {
					return s.Name == "RunWorkflow:noop" && strings.HasPrefix(attrOf(s, "temporalWorkflowID"), id)
				})
			}
			var all tracetest.SpanStubs
			for n := 1; n <= 2; n++ {
				if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(30 * time.Second)
				for all = spans.GetSpans(); len(runsOf(all)) < n; all = spans.GetSpans() {
					if time.Now().After(deadline) {
						t.Fatalf("run %d of the schedule did not happen in 30s:\n%s", n, describe(all))
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			runs := runsOf(all)
			created, ok := find(all, func(s tracetest.SpanStub) bool { return s.Name == "CreateSchedule:"+id })
			if !ok {
				t.Fatal("no CreateSchedule span")
			}
			same := runs[0].SpanContext.TraceID() == runs[1].SpanContext.TraceID() &&
				runs[0].SpanContext.TraceID() == created.SpanContext.TraceID()
			if same != c.sameTrace {
				t.Errorf("runs in the creation's trace: %v, want %v\n%s", same, c.sameTrace, describe(append(runs, created)))
			}
			if !c.sameTrace && (runs[0].Parent.IsValid() || runs[1].Parent.IsValid()) {
				t.Error("a run's workflow span has a parent")
			}
		})
	}
}

// TestBuildIsOneTrace: a build (conductor.build_instances, as the docs follow
// it) is one trace through the conductor, the scheduler and the compute
// host, down to the driver and SQL.
func TestBuildIsOneTrace(t *testing.T) {
	st := newStack(t, "scheduler", "conductor")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := st.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: testenv.UniqueName(t, "build"), TaskQueue: "conductor"},
		conductor.BuildInstancesName,
		json.RawMessage(`{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var res conductor.BuildResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("build: %v\n%s", err, st.logs)
	}
	const root = "StartWorkflow:conductor.build_instances"
	want := []string{
		"RunWorkflow:conductor.build_instances",
		"conductor.create_instances",
		"scheduler.select_destinations",
		"RunWorkflow:conductor.build_instance",
		"RunActivity:compute.build_and_run_instance",
		"compute.build_and_run_instance",
		"compute.driver Spawn",
		"conductor.finish_build",
	}
	var tr tracetest.SpanStubs
	st.waitSpans(t, "the build's trace", func(all tracetest.SpanStubs) bool {
		r, ok := find(all, func(s tracetest.SpanStub) bool { return s.Name == root })
		if !ok {
			return false
		}
		tr = inTrace(all, r.SpanContext.TraceID())
		for _, name := range want {
			if _, ok := find(tr, func(s tracetest.SpanStub) bool { return s.Name == name }); !ok {
				return false
			}
		}
		return true
	})
	t.Logf("the build's trace (%d spans):\n%s", len(tr), describe(tr))
	ids := map[trace.SpanID]bool{}
	for _, s := range tr {
		ids[s.SpanContext.SpanID()] = true
	}
	for _, s := range tr {
		if s.Name != root && !ids[s.Parent.SpanID()] {
			t.Errorf("span %q has its parent outside the trace", s.Name)
		}
	}
}
