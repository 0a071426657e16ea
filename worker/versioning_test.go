package worker

import (
	"context"
	"errors"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/testenv"
)

func TestBuildIDFromBuildInfo(t *testing.T) {
	cases := []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{"clean tree", []debug.BuildSetting{{Key: "vcs.revision", Value: "3f9a0c1d"}, {Key: "vcs.modified", Value: "false"}}, "3f9a0c1d"},
		{"modified tree", []debug.BuildSetting{{Key: "vcs.revision", Value: "3f9a0c1d"}, {Key: "vcs.modified", Value: "true"}}, ""},
		{"no vcs stamp (-buildvcs=false, go test)", []debug.BuildSetting{{Key: "CGO_ENABLED", Value: "0"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := buildIDFromBuildInfo(&debug.BuildInfo{Settings: c.settings}); got != c.want {
				t.Errorf("buildIDFromBuildInfo = %q, want %q", got, c.want)
			}
		})
	}
}

func TestEffectiveBuildIDAndSettings(t *testing.T) {
	if got := (Config{BuildID: "b1"}).EffectiveBuildID(); got != "b1" {
		t.Errorf("NOVAFLOW_BUILD_ID=b1: build ID %q", got)
	}
	if got := (Config{BuildID: "b1", Versioning: VersioningOff}).EffectiveBuildID(); got != "" {
		t.Errorf("NOVAFLOW_VERSIONING=off: build ID %q, want none", got)
	}
	if got := (Config{BuildID: "b1", Versioning: VersioningOff}).BuildIDOfBinary(); got != "b1" {
		t.Errorf("NOVAFLOW_VERSIONING=off: the binary's build ID %q, want b1 all the same", got)
	}
	// Test binaries carry no VCS stamp: no build ID, no versioning.
	if got := (Config{}).EffectiveBuildID(); got != "" {
		t.Errorf("no NOVAFLOW_BUILD_ID in a test binary: build ID %q, want none", got)
	}

	base := Config{Host: "h", TemporalAddress: "x:1", TemporalNamespace: "n", LogFormat: "text", LogLevel: "info", RPCResponseTimeout: time.Second, CastTimeout: time.Second}
	for _, c := range []struct {
		mod     func(*Config)
		setting string
	}{
		{func(c *Config) { c.Versioning = "sometimes" }, "NOVAFLOW_VERSIONING"},
		{func(c *Config) { c.BuildID = strings.Repeat("x", 256) }, "NOVAFLOW_BUILD_ID"},
		{func(c *Config) { c.Versioning = VersioningManual; c.BuildID = "b" }, ""},
	} {
		cfg := base
		c.mod(&cfg)
		err := cfg.Validate()
		var ce *ConfigError
		switch {
		case c.setting == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", cfg, err)
		case c.setting != "" && (!errors.As(err, &ce) || ce.Setting != c.setting):
			t.Errorf("Validate = %v, want an error naming %s", err, c.setting)
		}
	}
}

func TestDeploymentOptions(t *testing.T) {
	topic := registerUpgradeTopic(t)
	svc, err := Create(Config{Host: "h1", BuildID: "b7", TemporalAddress: "x:1", TemporalNamespace: "n", LogFormat: "text", LogLevel: "info",
		RPCResponseTimeout: time.Second, CastTimeout: time.Second}, Options{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	shared := svc.deploymentOptions(topic)
	want := sdkworker.DeploymentOptions{
		UseVersioning:             true,
		Version:                   sdkworker.WorkerDeploymentVersion{DeploymentName: "novaflow-" + topic, BuildID: "b7"},
		DefaultVersioningBehavior: workflow.VersioningBehaviorAutoUpgrade,
	}
	if shared != want {
		t.Errorf("shared queue: %+v, want %+v", shared, want)
	}
	if host := svc.deploymentOptions(svc.HostQueue()); host != (sdkworker.DeploymentOptions{}) {
		t.Errorf("host queue: %+v, want unversioned", host)
	}
}

func TestDecidePromotion(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	version := func(b string) *sdkworker.WorkerDeploymentVersion {
		return &sdkworker.WorkerDeploymentVersion{DeploymentName: "d", BuildID: b}
	}
	summary := func(b string, at time.Duration) client.WorkerDeploymentVersionSummary {
		return client.WorkerDeploymentVersionSummary{Version: *version(b), CreateTime: t0.Add(at)}
	}
	cases := []struct {
		name  string
		build string // default B
		info  client.WorkerDeploymentInfo
		want  promotion
		err   string
	}{
		{name: "first build of a new deployment", info: client.WorkerDeploymentInfo{
			VersionSummaries: []client.WorkerDeploymentVersionSummary{summary("B", 0)}}, want: promoteNow},
		{name: "build not polled yet", info: client.WorkerDeploymentInfo{
			VersionSummaries: []client.WorkerDeploymentVersionSummary{summary("A", 0)},
			RoutingConfig:    client.WorkerDeploymentRoutingConfig{CurrentVersion: version("A")}}, want: promoteWait},
		{name: "rolling update to B", info: client.WorkerDeploymentInfo{
			VersionSummaries: []client.WorkerDeploymentVersionSummary{summary("A", 0), summary("B", time.Hour)},
			RoutingConfig:    client.WorkerDeploymentRoutingConfig{CurrentVersion: version("A")}}, want: promoteNow},
		{name: "B already current", info: client.WorkerDeploymentInfo{
			VersionSummaries: []client.WorkerDeploymentVersionSummary{summary("A", 0), summary("B", time.Hour)},
			RoutingConfig:    client.WorkerDeploymentRoutingConfig{CurrentVersion: version("B")}}, want: promoteDone},
		{name: "old build restarts after the rollout", build: "A", info: client.WorkerDeploymentInfo{
			VersionSummaries: []client.WorkerDeploymentVersionSummary{summary("A", 0), summary("B", time.Hour)},
			RoutingConfig:    client.WorkerDeploymentRoutingConfig{CurrentVersion: version("B")}}, want: promoteSkip},
		{name: "operator ramps B", info: client.WorkerDeploymentInfo{
			VersionSummaries: []client.WorkerDeploymentVersionSummary{summary("A", 0), summary("B", time.Hour)},
			RoutingConfig: client.WorkerDeploymentRoutingConfig{CurrentVersion: version("A"), RampingVersion: version("B"),
				RampingVersionPercentage: 10}}, want: promoteRamping},
		{name: "managed by a controller", info: client.WorkerDeploymentInfo{ManagerIdentity: "worker-controller",
			VersionSummaries: []client.WorkerDeploymentVersionSummary{summary("B", 0)}}, err: "NOVAFLOW_VERSIONING=manual"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			build := c.build
			if build == "" {
				build = "B"
			}
			got, err := decidePromotion(c.info, build, "novaflow-x@h")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("decidePromotion error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("decidePromotion = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// upgradeGates hold the "hold" method of the upgrade topics until released,
// keyed by topic + "/" + key.
var upgradeGates sync.Map

func upgradeGate(topic, key string) chan struct{} {
	g, _ := upgradeGates.LoadOrStore(topic+"/"+key, make(chan struct{}))
	return g.(chan struct{})
}

type holdRequest struct {
	Key string `json:"key"`
}

type holdResult struct {
	Host string `json:"host"`
}

type upgradeManager struct {
	topic, host string
}

func (m *upgradeManager) PeriodicTasks() []managers.PeriodicTask { return nil }

func (m *upgradeManager) RPCMethods() []managers.Method {
	return []managers.Method{
		managers.NewMethod("hold", "1.0", func(ctx context.Context, req holdRequest) (holdResult, error) {
			select {
			case <-upgradeGate(m.topic, req.Key):
				return holdResult{Host: m.host}, nil
			case <-ctx.Done():
				return holdResult{}, ctx.Err()
			}
		}),
	}
}

// registerUpgradeTopic registers a manager of a topic of the test's own,
// whose deployment (novaflow-<topic>) no other test or earlier run shares.
func registerUpgradeTopic(t *testing.T) string {
	topic := "upg" + strings.ReplaceAll(testenv.UniqueName(t, ""), "-", "")
	if len(topic) > 40 {
		topic = topic[:40]
	}
	managers.Register(managers.Definition{
		Name: topic, Topic: topic, Version: 1,
		New: func(d managers.Deps) (managers.Manager, error) {
			return &upgradeManager{topic: d.Topic, host: d.Host}, nil
		},
	})
	return topic
}

// versionedConfig is a test service's settings with a build ID.
func versionedConfig(tmp *testenv.TemporalServer, dbURL, host, build, mode string) Config {
	return Config{
		Host: host, TemporalAddress: tmp.Address(), TemporalNamespace: tmp.Namespace(), DatabaseURL: dbURL,
		MigrateOnStart: true, ReportInterval: 0, ServiceDownTime: 25 * time.Second,
		PeriodicEnable: false, GracefulShutdownTimeout: 10 * time.Second,
		RPCResponseTimeout: time.Minute, CastTimeout: time.Hour, LogFormat: "text", LogLevel: "debug",
		BuildID: build, Versioning: mode,
	}
}

// currentBuild is the build ID of the deployment's current version; "" when
// unversioned.
func currentBuild(t *testing.T, c client.Client, deployment string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	desc, err := c.WorkerDeploymentClient().GetHandle(deployment).Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	if err != nil {
		t.Fatalf("describe worker deployment %s: %v", deployment, err)
	}
	if v := desc.Info.RoutingConfig.CurrentVersion; v != nil {
		return v.BuildID
	}
	return ""
}

// ranOn returns the versioning behaviour and build ID the server recorded
// for a workflow execution: the build of its last workflow task.
func ranOn(t *testing.T, c client.Client, id, runID string) (enumspb.VersioningBehavior, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	desc, err := c.DescribeWorkflowExecution(ctx, id, runID)
	if err != nil {
		t.Fatalf("describe workflow %s: %v", id, err)
	}
	vi := desc.GetWorkflowExecutionInfo().GetVersioningInfo()
	return vi.GetBehavior(), vi.GetDeploymentVersion().GetBuildId()
}

// unstick waits until a workflow has no workflow task scheduled or running,
// then clears its sticky task queue, so that its next workflow task goes to
// its normal task queue. Call it once the deployment's new current version is
// set and before the test lets the workflow go on.
//
// SetCurrentVersion (promoteBuild) returns once the new routing has reached
// every partition of the version's normal task queues (the server's
// CheckTaskQueueUserDataPropagation), and on those the next task of an
// AutoUpgrade workflow goes to the current build. The sticky queue of a worker
// of the old build gets the routing later, from a long poll of the normal
// queue's root partition (server 1.29, matching's userDataManager), and until
// then still takes the workflow's task: under load, a cast released after B was
// current ran its last task on A. Without stickiness, which build the next task
// runs on depends only on the current version, which the test has verified.
func unstick(t *testing.T, c client.Client, namespace, id, runID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	waitFor(t, 30*time.Second, id+" without a pending workflow task", func() bool {
		desc, err := c.DescribeWorkflowExecution(ctx, id, runID)
		if err != nil {
			t.Fatalf("describe workflow %s: %v", id, err)
		}
		return desc.GetPendingWorkflowTask() == nil
	})
	if _, err := c.WorkflowService().ResetStickyTaskQueue(ctx, &workflowservice.ResetStickyTaskQueueRequest{
		Namespace: namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: runID},
	}); err != nil {
		t.Fatalf("reset sticky task queue of %s: %v", id, err)
	}
}

// TestRollingUpgradeOfServices upgrades a topic's services from build A to
// build B as a rolling update does: B's first service makes B current
// (NOVAFLOW_VERSIONING=auto), a cast started on A and waiting in its activity
// finishes on B, calls to a host still on A keep working (its host queue is
// unversioned), and a restart of an A service does not take the deployment
// back.
func TestRollingUpgradeOfServices(t *testing.T) {
	tmp := testenv.Temporal(t)
	c := tmp.Client(t)
	dbURL := testenv.Postgres(t)
	topic := registerUpgradeTopic(t)
	deployment := DeploymentName(BinaryPrefix + topic)
	buildA, buildB := testenv.UniqueName(t, "a"), testenv.UniqueName(t, "b")
	hostA, hostB := testenv.UniqueName(t, "ha"), testenv.UniqueName(t, "hb")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := func(host, build, mode string) *Service {
		t.Helper()
		svc, err := Create(versionedConfig(tmp, dbURL, host, build, mode), Options{Topic: topic, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(ctx); err != nil {
			t.Fatalf("start %s on %s (build %s): %v", svc.Binary(), host, build, err)
		}
		t.Cleanup(func() { svc.Stop(context.Background()) })
		return svc
	}
	calls, err := rpc.New(rpc.Options{Temporal: c})
	if err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	svcA := start(hostA, buildA, VersioningAuto)
	if got := currentBuild(t, c, deployment); got != buildA {
		t.Fatalf("after the first service of build A started, current build = %q, want %q", got, buildA)
	}
	t.Logf("first service of a new deployment started and made its build current in %s", time.Since(began).Round(time.Millisecond))

	// A cast on A, held in its activity on host A.
	long, err := calls.Cast(ctx, topic, "hold", holdRequest{Key: "long"}, rpc.ToHost(hostA))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the cast's first workflow task on build A", func() bool {
		_, build := ranOn(t, c, long.WorkflowID, long.RunID)
		return build == buildA
	})

	began = time.Now()
	start(hostB, buildB, VersioningAuto)
	if got := currentBuild(t, c, deployment); got != buildB {
		t.Fatalf("after the first service of build B started, current build = %q, want %q", got, buildB)
	}
	t.Logf("service of build B started and made B current in %s", time.Since(began).Round(time.Millisecond))

	// Its next workflow task, when the activity returns, goes to the normal
	// queue, where B is current (see unstick), rather than to A's sticky queue.
	unstick(t, c, tmp.Namespace(), long.WorkflowID, long.RunID)
	close(upgradeGate(topic, "long"))
	var res holdResult
	if err := calls.Result(ctx, long, &res); err != nil || res.Host != hostA {
		t.Fatalf("cast started on A: result %+v, %v; want host %s", res, err, hostA)
	}
	if behavior, build := ranOn(t, c, long.WorkflowID, long.RunID); behavior != enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE || build != buildB {
		t.Errorf("cast started on A finished with behaviour %v on build %q, want AutoUpgrade on %q", behavior, build, buildB)
	}

	// New work runs on B, also when its activity goes to a host still on A.
	close(upgradeGate(topic, "now"))
	for _, host := range []string{hostA, hostB} {
		exec, err := calls.Cast(ctx, topic, "hold", holdRequest{Key: "now"}, rpc.ToHost(host))
		if err != nil {
			t.Fatal(err)
		}
		if err := calls.Result(ctx, exec, &res); err != nil || res.Host != host {
			t.Fatalf("call to %s after the upgrade: %+v, %v", host, res, err)
		}
		if _, build := ranOn(t, c, exec.WorkflowID, exec.RunID); build != buildB {
			t.Errorf("call to %s after the upgrade ran on build %q, want %q", host, build, buildB)
		}
	}

	// An A service that restarts does not take the deployment back, and a
	// manual one of a newer build does not take it either.
	svcA.Stop(ctx)
	start(hostA, buildA, VersioningAuto)
	start(testenv.UniqueName(t, "hc"), testenv.UniqueName(t, "c"), VersioningManual)
	if got := currentBuild(t, c, deployment); got != buildB {
		t.Errorf("after an A service restarted and a manual C service started, current build = %q, want %q", got, buildB)
	}
	if err := calls.Call(ctx, topic, "hold", holdRequest{Key: "now"}, &res, rpc.ToHost(hostA)); err != nil || res.Host != hostA {
		t.Errorf("call to the restarted A service: %+v, %v", res, err)
	}
}

// The long workflows of TestLongWorkflowsAcrossUpgrade: each runs step
// "one", waits for signal "go", then runs step "two", and returns the steps'
// results, each "<step>@<build that ran it>".

// longV1 is build A's code.
func longV1(ctx workflow.Context) ([]string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out []string
	for i, step := range []string{"one", "two"} {
		if i == 1 {
			workflow.GetSignalChannel(ctx, "go").Receive(ctx, nil)
		}
		var r string
		if err := workflow.ExecuteActivity(ctx, "step", step).Get(ctx, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// longV2 is build B's code: it adds a step "audit" before "one" and renames
// "two", each change behind workflow.GetVersion, so that a workflow started
// on A replays on B: "audit" is skipped (its history has no marker), and
// "two" takes the new form if it had not run yet.
func longV2(ctx workflow.Context) ([]string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out []string
	run := func(step string) error {
		var r string
		if err := workflow.ExecuteActivity(ctx, "step", step).Get(ctx, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	}
	if workflow.GetVersion(ctx, "audit", workflow.DefaultVersion, 1) == 1 {
		if err := run("audit"); err != nil {
			return nil, err
		}
	}
	if err := run("one"); err != nil {
		return nil, err
	}
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, nil)
	two := "two"
	if workflow.GetVersion(ctx, "two-b", workflow.DefaultVersion, 1) == 1 {
		two = "two-b"
	}
	if err := run(two); err != nil {
		return nil, err
	}
	return out, nil
}

// pinnedV2 is build B's code of the pinned workflow: an unpatched change,
// which is safe because a pinned workflow never moves to another build.
func pinnedV2(ctx workflow.Context) ([]string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var first, r string
	if err := workflow.ExecuteActivity(ctx, "step", "audit").Get(ctx, &first); err != nil {
		return nil, err
	}
	if err := workflow.ExecuteActivity(ctx, "step", "one").Get(ctx, &r); err != nil {
		return nil, err
	}
	out := []string{first, r}
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, nil)
	if err := workflow.ExecuteActivity(ctx, "step", "two").Get(ctx, &r); err != nil {
		return nil, err
	}
	return append(out, r), nil
}

// TestLongWorkflowsAcrossUpgrade runs long workflows across an upgrade from
// build A to build B on workers with a service's deployment options, and B
// made current by a service of build B (through the WorkerDeploymentClient):
//   - an AutoUpgrade workflow started on A finishes on B, whose code is
//     patched with workflow.GetVersion, without a non-determinism error;
//   - a Pinned workflow started on A finishes on A, while A keeps running
//     beside B (blue/green) until it has drained;
//   - new workflows run B's code on B.
func TestLongWorkflowsAcrossUpgrade(t *testing.T) {
	tmp := testenv.Temporal(t)
	c := tmp.Client(t)
	topic := registerUpgradeTopic(t)
	deployment := DeploymentName(BinaryPrefix + topic)
	buildA, buildB := testenv.UniqueName(t, "a"), testenv.UniqueName(t, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	service := func(build string) *Service {
		cfg := versionedConfig(tmp, "", testenv.UniqueName(t, "h"), build, VersioningAuto)
		svc, err := Create(cfg, Options{Topic: topic, Logger: testLogger(t), Temporal: c})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	startWorker := func(svc *Service, long, pinned any) sdkworker.Worker {
		build := svc.Config().BuildID
		w := sdkworker.New(c, topic, sdkworker.Options{DeploymentOptions: svc.deploymentOptions(topic)})
		w.RegisterWorkflowWithOptions(long, workflow.RegisterOptions{Name: "long"})
		w.RegisterWorkflowWithOptions(pinned, workflow.RegisterOptions{Name: "pinned", VersioningBehavior: workflow.VersioningBehaviorPinned})
		w.RegisterActivityWithOptions(func(ctx context.Context, step string) (string, error) {
			return step + "@" + activity.GetInfo(ctx).TaskQueue + ":" + build, nil
		}, activity.RegisterOptions{Name: "step"})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		if err := svc.promoteBuild(ctx); err != nil {
			t.Fatalf("promote build %s: %v", build, err)
		}
		return w
	}
	run := func(workflowType string) client.WorkflowRun {
		r, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: testenv.UniqueName(t, workflowType), TaskQueue: topic}, workflowType)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// afterOne waits until the run has passed step one and waits for "go".
	afterOne := func(r client.WorkflowRun) {
		waitFor(t, 30*time.Second, r.GetID()+" past step one", func() bool {
			it := c.GetWorkflowHistory(ctx, r.GetID(), r.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				e, err := it.Next()
				if err != nil {
					return false
				}
				if e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED {
					return true
				}
			}
			return false
		})
	}
	result := func(r client.WorkflowRun) string {
		var out []string
		if err := r.Get(ctx, &out); err != nil {
			t.Fatalf("%s: %v", r.GetID(), err)
		}
		return strings.Join(out, ",")
	}
	step := func(name, build string) string { return name + "@" + topic + ":" + build }

	workerA := startWorker(service(buildA), longV1, longV1)
	auto, pinned := run("long"), run("pinned")
	afterOne(auto)
	afterOne(pinned)

	startWorker(service(buildB), longV2, pinnedV2)
	if got := currentBuild(t, c, deployment); got != buildB {
		t.Fatalf("current build = %q, want %q", got, buildB)
	}
	// The AutoUpgrade workflow's next task goes to the normal queue, where B
	// is current (see unstick); the Pinned one's stays on A's sticky queue.
	unstick(t, c, tmp.Namespace(), auto.GetID(), auto.GetRunID())
	for _, r := range []client.WorkflowRun{auto, pinned} {
		if err := c.SignalWorkflow(ctx, r.GetID(), r.GetRunID(), "go", nil); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := result(auto), step("one", buildA)+","+step("two-b", buildB); got != want {
		t.Errorf("AutoUpgrade workflow started on A: %s, want %s", got, want)
	}
	if behavior, build := ranOn(t, c, auto.GetID(), auto.GetRunID()); behavior != enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE || build != buildB {
		t.Errorf("AutoUpgrade workflow started on A: ended with %v on %q, want AutoUpgrade on %q", behavior, build, buildB)
	}
	if got, want := result(pinned), step("one", buildA)+","+step("two", buildA); got != want {
		t.Errorf("Pinned workflow started on A: %s, want %s", got, want)
	}
	if behavior, build := ranOn(t, c, pinned.GetID(), pinned.GetRunID()); behavior != enumspb.VERSIONING_BEHAVIOR_PINNED || build != buildA {
		t.Errorf("Pinned workflow started on A: ended with %v on %q, want Pinned on %q", behavior, build, buildA)
	}
	// A has drained: it may go.
	workerA.Stop()

	for _, typ := range []string{"long", "pinned"} {
		r := run(typ)
		afterOne(r)
		if err := c.SignalWorkflow(ctx, r.GetID(), r.GetRunID(), "go", nil); err != nil {
			t.Fatal(err)
		}
		want := step("audit", buildB) + "," + step("one", buildB) + "," + step("two-b", buildB)
		if typ == "pinned" {
			want = step("audit", buildB) + "," + step("one", buildB) + "," + step("two", buildB)
		}
		if got := result(r); got != want {
			t.Errorf("new %s workflow after the upgrade: %s, want %s", typ, got, want)
		}
		if _, build := ranOn(t, c, r.GetID(), r.GetRunID()); build != buildB {
			t.Errorf("new %s workflow after the upgrade ran on %q, want %q", typ, build, buildB)
		}
	}
}
