package conductor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/conductor"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
	"github.com/novaflow/novaflow/workflows"
)

// authCloud is the cloud of newCloud with authorization on: every service
// verifies tokens of a local issuer and presents its own service token.
type authCloud struct {
	*cloud
	key   string // the issuer's signing key
	jwks  string
	users client.Client // a caller's Temporal client: carries tokens from its contexts
	rpc   *rpc.Client
}

const (
	testIssuer   = "https://issuer.test"
	testAudience = "novaflow"
)

func newAuthCloud(t *testing.T) *authCloud {
	t.Helper()
	ctx := context.Background()
	key, jwks, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &authCloud{cloud: &cloud{t: t, dbURL: testenv.Postgres(t), srv: testenv.Temporal(t), drv: map[string]*fake.Driver{}}, key: key, jwks: jwks}
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
	serviceToken := c.token(auth.Claims{Subject: "novaflow-service", Roles: []string{"service"}})
	c.pool, c.store = pool, store.New(pool)
	c.tc = c.dial(serviceToken)
	c.users = c.dial("")
	if c.rpc, err = rpc.New(rpc.Options{Temporal: c.users}); err != nil {
		t.Fatal(err)
	}
	host := testenv.UniqueName(t, "h1")
	svc := c.startAuth("compute", host, serviceToken)
	c.hosts = append(c.hosts, host)
	c.drv[host] = svc.Manager().(*computemgr.Manager).Driver().(*fake.Driver)
	c.startAuth("scheduler", testenv.UniqueName(t, "sched"), serviceToken)
	c.startAuth("conductor", testenv.UniqueName(t, "cond"), serviceToken)
	c.buildQ = conductor.Topic
	return c
}

// dial returns a Temporal client whose calls present the token of their
// context, else def.
func (c *authCloud) dial(def string) client.Client {
	c.t.Helper()
	var prop auth.Propagator
	if def != "" {
		prop.Default = func() string { return def }
	}
	tc, err := client.Dial(client.Options{HostPort: c.srv.Address(), Namespace: c.srv.Namespace(),
		ContextPropagators: []workflow.ContextPropagator{prop}, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
		// Status reports count a service up from these heartbeats.
		WorkerHeartbeatInterval: time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(tc.Close)
	return tc
}

func (c *authCloud) token(cl auth.Claims) string {
	c.t.Helper()
	if cl.Issuer == "" {
		cl.Issuer = testIssuer
	}
	if cl.Audience == "" {
		cl.Audience = testAudience
	}
	if cl.TTL == 0 {
		cl.TTL = time.Hour
	}
	tok, err := auth.Issue(c.key, cl)
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

func (c *authCloud) startAuth(topic, host, serviceToken string) *worker.Service {
	c.t.Helper()
	cfg := worker.DefaultConfig()
	cfg.Host, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL = host, c.srv.Address(), c.srv.Namespace(), c.dbURL
	cfg.ReportInterval, cfg.ServiceDownTime, cfg.PeriodicEnable = time.Second, 5*time.Second, false
	cfg.GracefulShutdownTimeout, cfg.LogLevel = 5*time.Second, "warn"
	cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer, cfg.Token = true, c.jwks, testIssuer, serviceToken
	svc, err := worker.Create(cfg, worker.Options{Topic: topic, Temporal: c.tc, DB: c.pool,
		Logger: slog.New(slog.DiscardHandler), Env: worker.Env{"NOVAFLOW_COMPUTE_DRIVER": "fake"}})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		c.t.Fatalf("start %s on %s: %v", topic, host, err)
	}
	c.t.Cleanup(func() { svc.Stop(context.Background()) })
	return svc
}

// buildAs builds one instance with the token tok, as the build workflow's
// caller.
func (c *authCloud) buildAs(tok string) (conductor.BuildResult, error) {
	c.t.Helper()
	return c.buildInput(tok, `{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]}}`)
}

// buildInput runs conductor.build_instances with input as the caller of
// token tok; a BuildFailed's details are the result.
func (c *authCloud) buildInput(tok, input string) (conductor.BuildResult, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(auth.WithToken(context.Background(), tok), 2*time.Minute)
	defer cancel()
	run, err := c.users.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: testenv.UniqueName(c.t, "build"), TaskQueue: c.buildQ},
		conductor.BuildInstancesName, json.RawMessage(input))
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
	return res, err
}

// TestAuthorization runs a cloud with authorization on: a member of project
// A builds an instance, which records A as its owner; a member of project B
// can neither see nor touch it, through rpc.Client or the temporal CLI, and
// the driver never hears of B's attempts; an admin of another project can;
// forged, expired and wrong-audience tokens and calls without a token are
// refused; the status reports (schedules) keep running.
func TestAuthorization(t *testing.T) {
	c := newAuthCloud(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := c.token(auth.Claims{Subject: "alice", ProjectID: "project-a", Roles: []string{"member"}})
	bob := c.token(auth.Claims{Subject: "bob", ProjectID: "project-b", Roles: []string{"member"}})
	root := c.token(auth.Claims{Subject: "root", ProjectID: "project-ops", Roles: []string{"admin"}})

	res, err := c.buildAs(alice)
	if err != nil {
		t.Fatalf("alice's build: %v", err)
	}
	if len(res.Instances) != 1 || res.Instances[0].Host == "" {
		t.Fatalf("build result %+v", res)
	}
	u, host := res.Instances[0].UUID, res.Instances[0].Host
	inst, err := c.store.Get(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if inst.ProjectID != "project-a" || inst.UserID != "alice" {
		t.Errorf("instance owned by %q/%q, want project-a/alice", inst.ProjectID, inst.UserID)
	}
	req := map[string]any{"instance_uuid": u}

	// Bob (project B) can neither see nor stop alice's instance.
	bobCtx := auth.WithToken(ctx, bob)
	var info json.RawMessage
	err = c.rpc.Call(bobCtx, "compute", "get_instance_info", req, &info)
	if !isType(err, policy.DeniedType) || !strings.Contains(err.Error(), `"compute:get_instance_info"`) {
		t.Errorf("bob's get_instance_info: %v, want PolicyDenied naming compute:get_instance_info", err)
	}
	err = c.rpc.Call(bobCtx, "compute", "stop_instance", req, nil)
	if !isType(err, policy.DeniedType) || !strings.Contains(err.Error(), `"compute:stop_instance"`) || !strings.Contains(err.Error(), "project_member") {
		t.Errorf("bob's stop_instance: %v, want PolicyDenied naming compute:stop_instance", err)
	}
	// Nor can he claim it for another host through the conductor.
	err = c.rpc.Call(bobCtx, "conductor", "release_claim", map[string]any{"instance_uuid": u, "dest_host": host}, nil)
	if !isType(err, policy.DeniedType) {
		t.Errorf("bob's release_claim: %v, want PolicyDenied", err)
	}
	running := func() bool {
		info, err := c.drv[host].Info(ctx, u)
		return err == nil && info.PowerState == compute.Running
	}
	if !running() {
		t.Errorf("after bob's calls the instance is not running")
	}

	// Calls made inside a workflow run as its caller: bob's build naming
	// alice's instance reaches compute.build_and_run_instance as bob, and
	// is denied there; the instance stays alice's, and running.
	start := time.Now()
	bres, err := c.buildInput(bob, `{"name":"steal","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","1"]},"instance_uuids":["`+u+`"]}`)
	took := time.Since(start)
	t.Logf("bob's build of alice's instance (%s): %v", took.Round(time.Millisecond), err)
	// A denial is not retried: the build fails promptly, its own failure
	// as non-retryable as the PolicyDenied that caused it.
	if took > 8*time.Second {
		t.Errorf("bob's build of alice's instance took %s to fail, want under 8 s (a PolicyDenied is not retried)", took.Round(time.Millisecond))
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && !appErr.NonRetryable() && appErr.Type() != conductor.BuildFailedType {
		t.Errorf("bob's build of alice's instance failed with a retryable %q: %v", appErr.Type(), err)
	}
	if err == nil {
		t.Errorf("bob's build of alice's instance succeeded: %+v", bres)
	} else if b, _ := json.Marshal(bres); !strings.Contains(err.Error()+string(b), policy.DeniedType) {
		t.Errorf("bob's build of alice's instance: %v %s, want a PolicyDenied inside", err, b)
	}
	if inst, err := c.store.Get(ctx, u); err != nil || inst.ProjectID != "project-a" || inst.UserID != "alice" || inst.Host != host {
		t.Errorf("after bob's build alice's instance is %+v (%v)", inst, err)
	}
	if !running() {
		t.Errorf("after bob's build the instance is not running")
	}

	// The same through the temporal CLI, whose token goes in the memo.
	cli, err := devstack.TemporalCLI(ctx, nil)
	if err != nil {
		t.Fatalf("temporal CLI: %v", err)
	}
	temporalCLI := func(tok string, typ string, input string) (string, error) {
		args := []string{"workflow", "execute", "--task-queue", "compute", "--type", typ, "--input", input,
			"--address", c.srv.Address(), "--namespace", c.srv.Namespace(), "-o", "json"}
		if tok != "" {
			args = append(args, "--memo", auth.MemoKey+"="+fmt.Sprintf("%q", tok))
		}
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	in := `{"instance_uuid":"` + u + `"}`
	if out, err := temporalCLI(bob, "compute.stop_instance", in); err == nil || !strings.Contains(out, policy.DeniedType) {
		t.Errorf("bob's stop_instance from the CLI: %v\n%s\nwant PolicyDenied", err, out)
	}
	if out, err := temporalCLI("", "compute.stop_instance", in); err == nil || !strings.Contains(out, policy.UnauthenticatedType) {
		t.Errorf("stop_instance from the CLI without a token: %v\n%s\nwant Unauthenticated", err, out)
	}
	if !running() {
		t.Errorf("after the CLI's refused calls the instance is not running")
	}
	if out, err := temporalCLI(alice, "compute.get_instance_info", in); err != nil || !strings.Contains(out, u) {
		t.Errorf("alice's get_instance_info from the CLI: %v\n%s", err, out)
	}

	// Alice may; an admin of another project may.
	if err := c.rpc.Call(auth.WithToken(ctx, alice), "compute", "get_instance_info", req, &info); err != nil {
		t.Errorf("alice's get_instance_info: %v", err)
	}
	if err := c.rpc.Call(auth.WithToken(ctx, root), "compute", "stop_instance", req, nil); err != nil {
		t.Errorf("admin's stop_instance: %v", err)
	}
	if running() {
		t.Errorf("after the admin's stop the instance is still running")
	}

	// Tokens that must be refused, and no token at all.
	for name, tok := range map[string]string{
		"expired":        c.token(auth.Claims{Subject: "alice", ProjectID: "project-a", Roles: []string{"member"}, TTL: -time.Hour}),
		"wrong audience": c.token(auth.Claims{Subject: "alice", ProjectID: "project-a", Roles: []string{"member"}, Audience: "another-service"}),
		"forged":         forge(t, auth.Claims{Issuer: testIssuer, Audience: testAudience, Subject: "alice", ProjectID: "project-a", Roles: []string{"admin"}, TTL: time.Hour}),
		"none":           "",
	} {
		err := c.rpc.Call(auth.WithToken(ctx, tok), "compute", "get_instance_info", req, &info)
		if !isType(err, policy.UnauthenticatedType) {
			t.Errorf("%s token: %v, want Unauthenticated", name, err)
		}
	}

	// The framework's own runs are for services and their schedules: a
	// status report started by hand without a token, or with a member's
	// or an admin's, is refused naming the rule, before it reports; with
	// a service's token it runs.
	report := `{"topic":"compute"}`
	for name, tok := range map[string]string{"no": "", "a member's": alice, "an admin's": root} {
		out, err := temporalCLI(tok, workflows.ReportStateName("compute"), report)
		if err == nil || !strings.Contains(out, policy.DeniedType) || !strings.Contains(out, policy.FrameworkRule) {
			t.Errorf("report_state started by hand with %s token: %v\n%s\nwant PolicyDenied naming %s", name, err, out, policy.FrameworkRule)
		}
	}
	// Claiming to be the schedule's run (a search attribute any client may
	// set) does not help.
	run, err := c.users.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: worker.ReportScheduleID("compute") + "-forged", TaskQueue: "compute",
		SearchAttributes: map[string]any{"TemporalScheduledById": worker.ReportScheduleID("compute")}},
		workflows.ReportStateName("compute"), workflows.ReportRequest{Topic: "compute"})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); !appType(err, policy.DeniedType) {
		t.Errorf("report_state claiming its schedule: %v, want PolicyDenied", err)
	}
	svcCtx := auth.WithToken(ctx, c.token(auth.Claims{Subject: "another-service", Roles: []string{"service"}}))
	run, err = c.users.ExecuteWorkflow(svcCtx, client.StartWorkflowOptions{ID: testenv.UniqueName(t, "report"), TaskQueue: "compute"},
		workflows.ReportStateName("compute"), workflows.ReportRequest{Topic: "compute"})
	if err != nil {
		t.Fatal(err)
	}
	var rep workflows.ReportRunResult
	if err := run.Get(ctx, &rep); err != nil || rep.Failed != 0 {
		t.Errorf("report_state with a service's token: %+v %v", rep, err)
	}

	// The schedules run: the topics' status reports keep the services up.
	sg := servicegroup.NewStore(c.pool)
	first, err := sg.Get(ctx, host, worker.BinaryPrefix+"compute")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, err := sg.Get(ctx, host, worker.BinaryPrefix+"compute")
		if err == nil && rec.ReportCount >= first.ReportCount+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status report of compute on %s within 30 s: %+v %v", host, rec, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// appType reports whether err wraps an application error of type typ.
func appType(err error, typ string) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == typ
}

// forge signs claims with a key the cloud's issuer does not publish.
func forge(t *testing.T, cl auth.Claims) string {
	key, _, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Issue(key, cl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
