package worker

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/workflows"
)

// describes counts, by schedule ID, the DescribeSchedule calls of the
// services the tests of this package start (their clients, testDialOptions).
var describes sync.Map // schedule ID -> *atomic.Int64

func init() {
	testDialOptions = append(testDialOptions, grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if r, ok := req.(*workflowservice.DescribeScheduleRequest); ok {
				n, _ := describes.LoadOrStore(r.GetScheduleId(), new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
}

// describeCount is how many DescribeSchedule calls for schedule id the
// services of this package's tests made.
func describeCount(id string) int64 {
	n, ok := describes.Load(id)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// authConfig is cfg with authorization on, a key made for the test, and
// a service's token.
func authConfig(t *testing.T, cfg Config) Config {
	t.Helper()
	key, jwks, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://issuer.test"
	service, err := auth.Issue(key, auth.Claims{Issuer: issuer, Audience: "novaflow", Subject: "svc", Roles: []string{"service"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer, cfg.Token = true, jwks, issuer, service
	return cfg
}

// TestScheduledRunCheckedOnce: under authorization a periodic run over
// several hosts reads its schedule once, in its check at its start, not
// once per host (each host's part carries the run's mark); a run started
// by hand with a mark in its start's header and no token is refused.
func TestScheduledRunCheckedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	const hosts = 3
	var hourly runLog
	var cfg Config
	names := make([]string, hosts)
	for i := range hosts {
		names[i] = testenv.UniqueName(t, "host")
		c := h.config(names[i])
		if i == 0 {
			cfg = authConfig(t, c)
		}
		c.Auth, c.AuthJWKS, c.AuthIssuer, c.Token = true, cfg.AuthJWKS, cfg.AuthIssuer, cfg.Token
		h.start(c, hourly.task("hourly", time.Hour, nil))
	}
	eventually(t, 30*time.Second, "every host up", func() bool {
		for _, n := range names {
			if st, _ := h.status(n, 10*time.Second); st != servicegroup.Up {
				return false
			}
		}
		return true
	})

	id := PeriodicScheduleID(h.topic, "hourly")
	before := describeCount(id)
	wid, rid := h.triggerRun(id)
	res := h.runResult(wid, rid)
	if res.Hosts != hosts || res.Ran != hosts {
		t.Fatalf("the triggered run: %+v, want it run on %d hosts", res, hosts)
	}
	n := describeCount(id) - before
	t.Logf("DescribeSchedule calls for one periodic run over %d hosts: %d", hosts, n)
	// One read; a second when the schedule had not yet recorded the run
	// at the check's first read. Before the check was the run's, each
	// host read it (n >= hosts).
	if n < 1 || n >= hosts {
		t.Errorf("DescribeSchedule calls for one run over %d hosts: %d, want one (the run's check)", hosts, n)
	}

	// A client that writes the mark in the header of a start: the run is
	// no schedule's, its check refuses it, and the mark never reaches its
	// activities, which carry no token.
	forger, err := client.Dial(client.Options{HostPort: h.tmp.Address(), Namespace: h.tmp.Namespace(),
		ContextPropagators: []workflow.ContextPropagator{markForger{schedule: id}}})
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	ran := hourly.count()
	run, err := forger.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id + "-forged", TaskQueue: h.topic},
		workflows.PeriodicName(h.topic, "hourly"), workflows.PeriodicRequest{Topic: h.topic, Task: "hourly"})
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	if err == nil || !(strings.Contains(err.Error(), policy.UnauthenticatedType) || strings.Contains(err.Error(), policy.DeniedType)) {
		t.Errorf("a run started by hand with a mark in its header: %v, want it refused", err)
	}
	if hourly.count() != ran {
		t.Errorf("the task ran %d times in a forged run", hourly.count()-ran)
	}
}

// markForger writes auth.MarkKey in the header of what its client starts,
// naming the schedule and, since a client cannot know the run's ID, none.
type markForger struct{ schedule string }

func (f markForger) Inject(ctx context.Context, w workflow.HeaderWriter) error {
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"run_id": "", "schedule": f.schedule})
	if err != nil {
		return err
	}
	w.Set(auth.MarkKey, p)
	return nil
}

func (markForger) Extract(ctx context.Context, r workflow.HeaderReader) (context.Context, error) {
	return ctx, nil
}

func (markForger) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error { return nil }

func (markForger) ExtractToWorkflow(ctx workflow.Context, r workflow.HeaderReader) (workflow.Context, error) {
	return ctx, nil
}

// TestRevertedEditRefused: a namespace writer edits a status report's
// schedule (the input claims a host alive that runs nothing), triggers it,
// and sets the schedule back before the run is checked: the run is still
// refused, since its check reads the run's own input, not the schedule's
// action, and it writes no row. No service runs while the edit is made,
// so the revert comes before the check.
func TestRevertedEditRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	cfg := authConfig(t, h.config(testenv.UniqueName(t, "host")))
	first := h.start(cfg)
	first.Stop(ctx)

	id := ReportScheduleID(h.topic)
	ghost := testenv.UniqueName(t, "ghost")
	was := h.editAction(id, workflows.ReportRequest{Topic: h.topic, Asked: true, Alive: []workflows.Alive{{Host: ghost, Binary: h.binary}}})
	wid, rid := h.triggerRun(id)
	h.editAction(id, was)
	var now workflows.ReportRequest
	p, _ := h.describe(id).Schedule.Action.(*client.ScheduleWorkflowAction).Args[0].(*commonpb.Payload)
	if err := converter.GetDefaultDataConverter().FromPayload(p, &now); err != nil || now.Asked || len(now.Alive) > 0 || now.Topic != h.topic {
		t.Fatalf("the schedule's input after the revert: %+v, %v; want the service's own", now, err)
	}

	h.start(cfg)
	var run workflows.ReportRunResult
	err := h.c.GetWorkflow(ctx, wid, rid).Get(ctx, &run)
	if err == nil || !strings.Contains(err.Error(), policy.DeniedType) {
		t.Errorf("a report run with an edited input, its schedule set back: %+v, %v; want it refused with %s", run, err, policy.DeniedType)
	}
	if r := h.record(ghost); r != nil {
		t.Errorf("the edited report wrote a row for %s: %+v", ghost, r)
	}
}
