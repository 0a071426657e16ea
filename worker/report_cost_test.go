package worker

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/workflows"
)

// TestReportCost measures what status reports and periodic tasks cost the
// Temporal server, per service, and compares the report designs
// (docs/BENCHMARKS.md). It starts its own dev server (dev stack settings,
// metrics on), runs each design for a window with NOVAFLOW_COST_HOSTS
// services (default 10) reporting every 2 s, and counts workflows started,
// history events (the runs' and the schedules' own scheduler workflows') and
// the server's own `action` and `persistence_requests` counters.
//
//	NOVAFLOW_COST=1 go test ./worker -run TestReportCost -count=1 -v -timeout 30m
func TestReportCost(t *testing.T) {
	if os.Getenv("NOVAFLOW_COST") == "" {
		t.Skip("set NOVAFLOW_COST=1 to measure (takes about 4 minutes)")
	}
	hosts := 10
	if n, err := strconv.Atoi(os.Getenv("NOVAFLOW_COST_HOSTS")); err == nil && n > 0 {
		hosts = n
	}
	const interval = 2 * time.Second
	window := 40 * time.Second
	if d, err := time.ParseDuration(os.Getenv("NOVAFLOW_COST_WINDOW")); err == nil && d > 0 {
		window = d
	}
	srv := startMeteredTemporal(t)
	dbURL := testenv.Postgres(t)
	m := &costMeter{t: t, srv: srv, c: srv.client, hosts: hosts, interval: interval, window: window, dbURL: dbURL}
	m.store = servicegroup.NewStore((&harness{t: t}).pool(dbURL))

	var rows []costRow
	rows = append(rows, m.measure("idle server (baseline)", "", func() func() { return func() {} }))
	rows = append(rows, m.measure("A report: schedule per service, workflow + local activity on <topic>.<host> (chosen)",
		"costa.report_state", func() func() { return m.services("costa", interval, 0) }))
	rows = append(rows, m.measure("B report: schedule per service, workflow on <topic> + activity on <topic>.<host>",
		"costb.report_via_activity", m.perServiceActivity))
	rows = append(rows, m.measure("C report: one schedule per topic, fanout workflow + activity per host",
		"costc.report_fanout", m.perTopicFanout))
	rows = append(rows, m.measure("A with every service dead (killed: schedules still running, nobody polls)",
		"costa.report_state", func() func() { return m.killed(m.services("costa", interval, 0)) }))
	rows = append(rows, m.measure("C with one host of the topic dead",
		"costc.report_fanout", func() func() { return m.perTopicFanoutDead(1) }))
	rows = append(rows, m.measure("P periodic task every 2 s (reports off): workflow + activity on <topic>.<host>",
		"costp.periodic.tick", func() func() { return m.services("costp", 0, interval) }))

	var b strings.Builder
	fmt.Fprintf(&b, "\n%d services, every %s, window %s (rates per service per second; per run = per report or task run)\n\n", hosts, interval, window)
	fmt.Fprintln(&b, "| design | workflows/s | history events/s | actions/s | persistence requests/s | events per run | actions per run | persistence per run |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|---|---|")
	base := rows[0]
	for _, r := range rows {
		perSvc := func(v float64) float64 { return v / r.window.Seconds() / float64(hosts) }
		persistence := r.persistence
		if r.name != base.name {
			persistence -= base.persistence * r.window.Seconds() / base.window.Seconds()
		}
		perRun := func(v float64) string {
			if r.runs == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f", v/float64(r.runs))
		}
		fmt.Fprintf(&b, "| %s | %.3f | %.2f | %.2f | %.1f | %s | %s | %s |\n", r.name, perSvc(float64(r.runs)), perSvc(float64(r.events)),
			perSvc(r.actions), perSvc(persistence), perRun(float64(r.events)), perRun(r.actions), perRun(persistence))
	}
	fmt.Fprintln(&b, "\nserver action counter by type (whole window, all services):")
	for _, r := range rows[1:] {
		fmt.Fprintf(&b, "- %s: %s\n", r.name, r.actionTypes)
	}
	fmt.Fprintln(&b, "\nliveness:")
	for _, r := range rows[1:] {
		fmt.Fprintf(&b, "- %s: reports written %d of %d due; max gap between two reports of a service %s\n", r.name, r.reports, r.due, r.maxGap)
	}
	t.Log(b.String())
}

type costRow struct {
	name                 string
	window               time.Duration
	runs, events         int
	actions, persistence float64
	actionTypes          string
	reports, due         int64
	maxGap               time.Duration
}

type costMeter struct {
	t        *testing.T
	srv      *meteredTemporal
	c        client.Client
	hosts    int
	interval time.Duration
	window   time.Duration
	dbURL    string
	store    *servicegroup.Store

	lastServices []*Service
}

// measure runs setup, lets it warm up for two intervals, then measures one
// window and tears down.
func (m *costMeter) measure(name, workflowType string, setup func() (teardown func())) costRow {
	t := m.t
	teardown := setup()
	time.Sleep(2 * m.interval)
	before := m.srv.counters(t)
	reportsBefore := m.reportCounts()
	from := time.Now()
	time.Sleep(m.window)
	to := time.Now()
	after := m.srv.counters(t)
	reportsAfter := m.reportCounts()
	teardown()

	row := costRow{name: name, window: to.Sub(from)}
	row.actions = after.sum("action", `namespace="default"`) - before.sum("action", `namespace="default"`)
	row.persistence = after.sum("persistence_requests", "") - before.sum("persistence_requests", "")
	row.actionTypes = after.byLabel("action", `namespace="default"`, "action_type", before)
	if workflowType == "" {
		return row
	}
	time.Sleep(2 * time.Second) // visibility catches up
	runs := m.listRuns(workflowType, from, to)
	row.runs = len(runs)
	schedulers := map[string]bool{}
	for _, r := range runs {
		row.events += m.historyEvents(r.GetExecution().GetWorkflowId(), r.GetExecution().GetRunId(), time.Time{}, time.Time{})
		if sid := scheduleOfRun(r.GetExecution().GetWorkflowId()); sid != "" {
			schedulers[sid] = true
		}
	}
	for sid := range schedulers {
		row.events += m.historyEvents("temporal-sys-scheduler:"+sid, "", from, to)
	}
	if strings.Contains(workflowType, "report") {
		for host, n := range reportsAfter {
			row.reports += n - reportsBefore[host]
		}
		row.due = int64(m.hosts) * int64(row.window/m.interval)
		row.maxGap = m.maxGap(workflowType, from, to)
	}
	t.Logf("%s: %d runs, %d events, %.0f actions, %.0f persistence requests", name, row.runs, row.events, row.actions, row.persistence)
	return row
}

// scheduleOfRun returns the schedule ID of a run started by a schedule (the
// schedule appends -<timestamp> to its action's workflow ID).
func scheduleOfRun(workflowID string) string {
	i := strings.LastIndex(workflowID, "-20")
	if i < 0 {
		return ""
	}
	return workflowID[:i]
}

func (m *costMeter) listRuns(workflowType string, from, to time.Time) []*workflowListEntry {
	q := fmt.Sprintf("WorkflowType = '%s' AND StartTime >= '%s' AND StartTime < '%s'", workflowType,
		from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
	var out []*workflowListEntry
	var token []byte
	for {
		resp, err := m.c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: q, NextPageToken: token})
		if err != nil {
			m.t.Fatalf("list %s: %v", q, err)
		}
		out = append(out, resp.GetExecutions()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out
		}
	}
}

// historyEvents counts the events of a run, only those in [from, to) when
// from is set.
func (m *costMeter) historyEvents(workflowID, runID string, from, to time.Time) int {
	it := m.c.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			m.t.Fatalf("history of %s: %v", workflowID, err)
		}
		if at := e.GetEventTime().AsTime(); from.IsZero() || (!at.Before(from) && at.Before(to)) {
			n++
		}
	}
	return n
}

// reportCounts is report_count by host for the measured topics.
func (m *costMeter) reportCounts() map[string]int64 {
	recs, _, err := m.store.List(context.Background(), servicegroup.Filter{})
	if err != nil {
		m.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range recs {
		out[r.Topic+"/"+r.Host] = r.ReportCount
	}
	return out
}

// maxGap is the longest time between two successful report runs of one host
// in the window, from the runs' start times.
func (m *costMeter) maxGap(workflowType string, from, to time.Time) time.Duration {
	if strings.HasSuffix(workflowType, "fanout") {
		var times []time.Time
		for _, r := range m.listRuns(workflowType, from, to) {
			// A failed fanout still reported the hosts that are alive.
			if r.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				times = append(times, r.GetStartTime().AsTime())
			}
		}
		return gapOf(times)
	}
	byHost := map[string][]time.Time{}
	for _, r := range m.listRuns(workflowType, from, to) {
		if r.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			id := r.GetExecution().GetWorkflowId()
			byHost[scheduleOfRun(id)] = append(byHost[scheduleOfRun(id)], r.GetStartTime().AsTime())
		}
	}
	var worst time.Duration
	for _, times := range byHost {
		worst = max(worst, gapOf(times))
	}
	return worst
}

func gapOf(times []time.Time) time.Duration {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	var worst time.Duration
	for i := 1; i < len(times); i++ {
		worst = max(worst, times[i].Sub(times[i-1]))
	}
	return worst.Round(10 * time.Millisecond)
}

// services starts m.hosts real services of topic (design A, and periodic
// tasks for P) and returns their teardown.
func (m *costMeter) services(topic string, report, periodic time.Duration) func() {
	var svcs []*Service
	for i := range m.hosts {
		host := fmt.Sprintf("%s-node%02d", topic, i)
		cfg := Config{
			Host: host, TemporalAddress: m.srv.address, TemporalNamespace: "default", DatabaseURL: m.dbURL,
			MigrateOnStart: true, ReportInterval: report, ServiceDownTime: 25 * time.Second,
			PeriodicEnable: true, RunExternalPeriodicTasks: true, GracefulShutdownTimeout: 5 * time.Second,
			RPCResponseTimeout: time.Minute, CastTimeout: time.Hour, LogFormat: "text", LogLevel: "warn",
		}
		var tasks []managers.PeriodicTask
		if periodic > 0 {
			tasks = []managers.PeriodicTask{{Name: "tick", Spacing: periodic, Run: func(context.Context) error { return nil }}}
		}
		costTasks.Store(host, tasks)
		svc, err := Create(cfg, Options{Topic: topic, Logger: slog.New(slog.DiscardHandler), Temporal: m.c})
		if err != nil {
			m.t.Fatal(err)
		}
		if err := svc.Start(context.Background()); err != nil {
			m.t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	m.lastServices = svcs
	return func() {
		for _, s := range svcs {
			s.Stop(context.Background())
			if err := DeleteSchedules(context.Background(), m.c, s.Topic(), s.Binary(), s.Host()); err != nil {
				m.t.Error(err)
			}
		}
	}
}

// killed stops the workers of the services started last, as SIGKILL would,
// leaving their schedules running; it returns the teardown.
func (m *costMeter) killed(teardown func()) func() {
	for _, s := range m.lastServices {
		s.mu.Lock()
		s.teardown()
		s.state = stopped
		s.mu.Unlock()
	}
	return teardown
}

// hostWorkers starts a worker on <topic>.<host> for each host, running the
// report activity <topic>.report_state, and returns the hosts and the workers.
func (m *costMeter) hostWorkers(topic string) ([]string, []sdkworker.Worker) {
	var hosts []string
	var ws []sdkworker.Worker
	for i := range m.hosts {
		host := fmt.Sprintf("%s-node%02d", topic, i)
		if _, err := m.store.Register(context.Background(), host, BinaryPrefix+topic, topic, 1); err != nil {
			m.t.Fatal(err)
		}
		w := sdkworker.New(m.c, HostQueue(topic, host), sdkworker.Options{})
		r := activities.NewReporter(m.store, host, BinaryPrefix+topic, topic, 1, slog.New(slog.DiscardHandler))
		w.RegisterActivityWithOptions(r.Report, activity.RegisterOptions{Name: activities.ReportStateName(topic)})
		if err := w.Start(); err != nil {
			m.t.Fatal(err)
		}
		hosts = append(hosts, host)
		ws = append(ws, w)
	}
	return hosts, ws
}

// perServiceActivity is design B: a schedule per service whose workflow runs
// on the shared queue and calls the report activity on the host queue with a
// short schedule-to-start timeout.
func (m *costMeter) perServiceActivity() func() {
	const topic = "costb"
	hosts, ws := m.hostWorkers(topic)
	shared := sdkworker.New(m.c, topic, sdkworker.Options{})
	shared.RegisterWorkflowWithOptions(reportViaActivity, workflow.RegisterOptions{Name: topic + ".report_via_activity"})
	if err := shared.Start(); err != nil {
		m.t.Fatal(err)
	}
	ws = append(ws, shared)
	var ids []string
	for _, host := range hosts {
		id := ReportScheduleID(BinaryPrefix+topic, host)
		ids = append(ids, id)
		m.createSchedule(id, topic+".report_via_activity", topic, activities.ReportRequest{Host: host, Binary: BinaryPrefix + topic, Topic: topic})
	}
	return m.teardown(ids, ws)
}

// perTopicFanout is design C: one schedule per topic whose workflow lists the
// topic's hosts and runs the report activity on every host queue.
func (m *costMeter) perTopicFanout() func() { return m.perTopicFanoutDead(0) }

// perTopicFanoutDead is design C with the workers of dead hosts stopped.
func (m *costMeter) perTopicFanoutDead(dead int) func() {
	const topic = "costc"
	_, ws := m.hostWorkers(topic)
	for _, w := range ws[:dead] {
		w.Stop()
	}
	ws = ws[dead:]
	shared := sdkworker.New(m.c, topic, sdkworker.Options{})
	shared.RegisterWorkflowWithOptions(reportFanout, workflow.RegisterOptions{Name: topic + ".report_fanout"})
	store := m.store
	shared.RegisterActivityWithOptions(func(ctx context.Context, topic string) ([]string, error) {
		recs, _, err := store.List(ctx, servicegroup.Filter{Topic: topic})
		if err != nil {
			return nil, err
		}
		var hosts []string
		for _, r := range recs {
			hosts = append(hosts, r.Host)
		}
		return hosts, nil
	}, activity.RegisterOptions{Name: topic + ".list_hosts"})
	if err := shared.Start(); err != nil {
		m.t.Fatal(err)
	}
	ws = append(ws, shared)
	id := "report:" + topic
	m.createSchedule(id, topic+".report_fanout", topic, topic)
	return m.teardown([]string{id}, ws)
}

func (m *costMeter) createSchedule(id, workflowType, queue string, arg any) {
	_, err := m.c.ScheduleClient().Create(context.Background(), client.ScheduleOptions{
		ID:      id,
		Spec:    client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: m.interval, Offset: phase(id, m.interval)}}},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{ID: id, Workflow: workflowType, TaskQueue: queue, Args: []any{arg},
			WorkflowRunTimeout: max(m.interval, minReportTimeout)},
	})
	if err != nil {
		m.t.Fatal(err)
	}
}

func (m *costMeter) teardown(ids []string, ws []sdkworker.Worker) func() {
	return func() {
		for _, id := range ids {
			if _, err := deleteSchedule(context.Background(), m.c, id, true); err != nil {
				m.t.Error(err)
			}
		}
		for _, w := range ws {
			w.Stop()
		}
	}
}

// reportViaActivity is design B's workflow.
func reportViaActivity(ctx workflow.Context, req activities.ReportRequest) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              HostQueue(req.Topic, req.Host),
		ScheduleToStartTimeout: time.Second,
		StartToCloseTimeout:    5 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	return workflow.ExecuteActivity(ctx, activities.ReportStateName(req.Topic), req).Get(ctx, nil)
}

// reportFanout is design C's workflow.
func reportFanout(ctx workflow.Context, topic string) error {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 5 * time.Second})
	var hosts []string
	if err := workflow.ExecuteLocalActivity(lctx, topic+".list_hosts", topic).Get(ctx, &hosts); err != nil {
		return err
	}
	var futures []workflow.Future
	for _, host := range hosts {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:              HostQueue(topic, host),
			ScheduleToStartTimeout: time.Second,
			StartToCloseTimeout:    5 * time.Second,
			RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		futures = append(futures, workflow.ExecuteActivity(actx, activities.ReportStateName(topic),
			activities.ReportRequest{Host: host, Binary: BinaryPrefix + topic, Topic: topic}))
	}
	failed := 0
	for _, f := range futures {
		if f.Get(ctx, nil) != nil {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d hosts did not report", failed, len(hosts))
	}
	return nil
}

// costTasks maps a host to the periodic tasks of its cost-measurement service.
var costTasks sync.Map

type workflowListEntry = workflowpb.WorkflowExecutionInfo

func discardSDKLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}

func init() {
	for _, topic := range []string{"costa", "costp"} {
		managers.Register(managers.Definition{Name: topic, Topic: topic, Version: 1,
			New: func(d managers.Deps) (managers.Manager, error) {
				v, _ := costTasks.Load(d.Host)
				m := &testManager{}
				if v != nil {
					m.tasks = v.([]managers.PeriodicTask)
				}
				return m, nil
			}})
	}
}

// meteredTemporal is a dev server with its Prometheus metrics served.
type meteredTemporal struct {
	address, metrics string
	client           client.Client
}

func startMeteredTemporal(t *testing.T) *meteredTemporal {
	t.Helper()
	ctx := context.Background()
	cli, err := devstack.TemporalCLI(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	port, metricsPort := testenv.FreePort(t), testenv.FreePort(t)
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--headless",
		"--namespace", "default", "--log-level", "warn", "--metrics-port", strconv.Itoa(metricsPort),
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false"}
	for key := range workflows.SearchAttributes().GetUntypedValues() {
		args = append(args, "--search-attribute", key.GetName()+"=Keyword")
	}
	args = append(args, devstack.TemporalServerArgs(false)...)
	cmd := exec.Command(cli, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	})
	srv := &meteredTemporal{address: fmt.Sprintf("127.0.0.1:%d", port), metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)}
	eventually(t, 2*time.Minute, "the metered dev server", func() bool {
		c, err := client.Dial(client.Options{HostPort: srv.address, Logger: discardSDKLogger()})
		if err != nil {
			return false
		}
		if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
			c.Close()
			return false
		}
		srv.client = c
		return true
	})
	t.Cleanup(srv.client.Close)
	return srv
}

// promSample is one sample of the metrics page: name{labels} value.
type promSample struct {
	name, labels string
	value        float64
}

type promSamples []promSample

func (m *meteredTemporal) counters(t *testing.T) promSamples {
	resp, err := http.Get(m.metrics)
	if err != nil {
		t.Fatalf("read server metrics: %v", err)
	}
	defer resp.Body.Close()
	var out promSamples
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(line[:sp], "{")
		out = append(out, promSample{name: name, labels: labels, value: v})
	}
	return out
}

func (s promSamples) sum(name, labelFilter string) float64 {
	total := 0.0
	for _, x := range s {
		if x.name == name && strings.Contains(x.labels, labelFilter) {
			total += x.value
		}
	}
	return total
}

// byLabel lists the increase of name since before, by the value of label.
func (s promSamples) byLabel(name, labelFilter, label string, before promSamples) string {
	get := func(ps promSamples) map[string]float64 {
		out := map[string]float64{}
		for _, x := range ps {
			if x.name != name || !strings.Contains(x.labels, labelFilter) {
				continue
			}
			for _, kv := range strings.Split(strings.TrimSuffix(x.labels, "}"), ",") {
				if k, v, _ := strings.Cut(kv, "="); k == label {
					out[strings.Trim(v, `"`)] += x.value
				}
			}
		}
		return out
	}
	a, b := get(s), get(before)
	var keys []string
	for k := range a {
		if a[k]-b[k] > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, a[k]-b[k]))
	}
	return strings.Join(parts, ", ")
}
