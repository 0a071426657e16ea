package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	laterName = "exp.later" // the caller's workflow: waits, then runs echoName, or itself as a child
	echoName  = "exp.echo"  // a read method of topic exp: returns its caller's user
	rogueName = "rogue.replay"
)

// laterInput is laterName's input.
type laterInput struct {
	Sleep time.Duration
	Child bool   // run the activity in a child (laterName again) after the sleep
	Queue string // the child's task queue
	// ChildID and Inner are the child's workflow ID (else Temporal's) and
	// input (else laterInput{}).
	ChildID string
	Inner   *laterInput
	// Continue: after the sleep, continue as new with laterInput{} (the
	// next run runs the activity at once).
	Continue bool
}

func later(ctx workflow.Context, in laterInput) (string, error) {
	if err := workflow.Sleep(ctx, in.Sleep); err != nil {
		return "", err
	}
	if in.Continue {
		return "", workflow.NewContinueAsNewError(ctx, laterName, laterInput{})
	}
	var user string
	if in.Child {
		inner := laterInput{}
		if in.Inner != nil {
			inner = *in.Inner
		}
		// Abandoned: a child that is reset outlives its parent's wait.
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{TaskQueue: in.Queue, WorkflowID: in.ChildID,
			ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON})
		err := workflow.ExecuteChildWorkflow(cctx, laterName, inner).Get(cctx, &user)
		return user, err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
	err := workflow.ExecuteActivity(actx, echoName, json.RawMessage(`{}`)).Get(actx, &user)
	return user, err
}

func echo(ctx context.Context, _ json.RawMessage) (string, error) {
	c, ok := policy.CredentialsFrom(ctx)
	if !ok {
		return "", errors.New("no credentials")
	}
	return c.UserID, nil
}

// rogueInput is rogueName's input: what a workflow on a worker outside
// novaflow (anyone who can poll a task queue of the namespace) asks of a
// service after a wait, with a token of its choice in the header.
type rogueInput struct {
	Token string
	Wait  time.Duration
	Queue string // the service's
	Child bool   // start laterName there (else run echoName there)
}

type rogueTokenKey struct{}

// roguePropagator writes what a rogue workflow chooses in auth.HeaderKey.
type roguePropagator struct{ auth.Propagator }

func (roguePropagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	tok, _ := ctx.Value(rogueTokenKey{}).(string)
	if tok == "" {
		return nil
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(tok)
	if err != nil {
		return err
	}
	w.Set(auth.HeaderKey, p)
	return nil
}

func rogue(ctx workflow.Context, in rogueInput) (string, error) {
	if err := workflow.Sleep(ctx, in.Wait); err != nil {
		return "", err
	}
	ctx = workflow.WithValue(ctx, rogueTokenKey{}, in.Token)
	var user string
	if in.Child {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{TaskQueue: in.Queue})
		err := workflow.ExecuteChildWorkflow(cctx, laterName, laterInput{}).Get(cctx, &user)
		return user, err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: in.Queue, StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
	err := workflow.ExecuteActivity(actx, echoName, json.RawMessage(`{}`)).Get(actx, &user)
	return user, err
}

// TestTokenExpiresDuringCall runs workers of a service (topic exp) with
// authorization on against the Temporal dev server. A caller's token is
// judged when its call entered, as the server recorded that start: a
// workflow started with a token of two seconds runs its activity and its
// child's activity after the token expired, as the caller; a token expired
// at the start is refused, as is a call older than the maximum and, with a
// maximum of 0, any step after expiry. No client can claim an older entry:
// a workflow on a worker outside novaflow that holds an expired token (read
// from a history) and asks the service for an activity or a child workflow
// with it is refused, since its own start, the entry, carried no such
// token. Nor can a namespace writer's reset of a caller's call run it again
// as the caller once the token has expired, nor a reset of a child's run
// that then continues as new (while a child's continued run keeps the
// grace).
func TestTokenExpiresDuringCall(t *testing.T) {
	t.Parallel()
	srv := testenv.Temporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	key, jwks, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://issuer.test"
	// No leeway, so that a token of 2 s expires within the test.
	v, err := auth.NewVerifier(ctx, auth.VerifierConfig{JWKS: jwks, Issuer: issuer, Audience: "novaflow", Leeway: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(user string, ttl time.Duration) string {
		tok, err := auth.Issue(key, auth.Claims{Issuer: issuer, Audience: "novaflow", Subject: user, ProjectID: "p", Roles: []string{"member"}, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	dial := func(prop workflow.ContextPropagator) client.Client {
		c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(),
			ContextPropagators: []workflow.ContextPropagator{prop}, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	users := dial(auth.Propagator{})
	// A service's worker of each maximum call age, on its own task queue.
	queue := map[time.Duration]string{}
	for _, age := range []time.Duration{time.Hour, 4 * time.Second, 0} {
		q := testenv.UniqueName(t, "exp")
		queue[age] = q
		c := dial(auth.Propagator{})
		w := worker.New(c, q, worker.Options{Interceptors: []interceptor.WorkerInterceptor{auth.NewEnforcer(auth.EnforcerOptions{
			Verifier: v, Topic: "exp", Methods: []managers.Method{{Name: "echo", Access: managers.AccessRead}},
			MaxCallAge: age, Entries: auth.NewEntries(c), Logger: slog.New(slog.DiscardHandler)})}})
		w.RegisterWorkflowWithOptions(later, workflow.RegisterOptions{Name: laterName})
		w.RegisterActivityWithOptions(echo, activity.RegisterOptions{Name: echoName})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}
	// A worker outside novaflow, on a task queue of its own.
	rogueQueue := testenv.UniqueName(t, "rogue")
	rogueClient := dial(roguePropagator{})
	rw := worker.New(rogueClient, rogueQueue, worker.Options{})
	rw.RegisterWorkflowWithOptions(rogue, workflow.RegisterOptions{Name: rogueName})
	if err := rw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rw.Stop)

	runID := func(c client.Client, id, tok, q, wf string, in any) (string, error) {
		opts := client.StartWorkflowOptions{ID: id, TaskQueue: q}
		r, err := c.ExecuteWorkflow(auth.WithToken(ctx, tok), opts, wf, in)
		if err != nil {
			return "", err
		}
		var user string
		err = r.Get(ctx, &user)
		return user, err
	}
	run := func(c client.Client, tok, q, wf string, in any) (string, error) {
		return runID(c, testenv.UniqueName(t, "call"), tok, q, wf, in)
	}
	refused := func(name string, err error, why string) {
		t.Helper()
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) || ae.Type() != policy.UnauthenticatedType || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: %v, want Unauthenticated saying %q", name, err, why)
		}
	}

	type result struct {
		user string
		err  error
		took time.Duration
	}
	// The cases wait for tokens to expire: run them at once.
	aliceCall := testenv.UniqueName(t, "alice")
	cases := map[string]func() (string, error){
		// exp has one-second resolution: a TTL of 2 s expires 1-2 s after
		// the start; the step runs 4 s after it.
		"activity after expiry": func() (string, error) {
			return runID(users, aliceCall, issue("alice", 2*time.Second), queue[time.Hour], laterName, laterInput{Sleep: 4 * time.Second})
		},
		"child's activity after expiry": func() (string, error) {
			return run(users, issue("alice", 2*time.Second), queue[time.Hour], laterName,
				laterInput{Sleep: 4 * time.Second, Child: true, Queue: queue[time.Hour]})
		},
		"child's continued run after expiry": func() (string, error) {
			return run(users, issue("alice", 2*time.Second), queue[time.Hour], laterName,
				laterInput{Child: true, Queue: queue[time.Hour], Inner: &laterInput{Sleep: 4 * time.Second, Continue: true}})
		},
		"expired at the start": func() (string, error) {
			return run(users, issue("alice", -time.Second), queue[time.Hour], laterName, laterInput{})
		},
		"older than the maximum": func() (string, error) {
			// Entered with a token of 2 s; the step runs 6 s after entry,
			// past the maximum of 4 s.
			return run(users, issue("alice", 2*time.Second), queue[4*time.Second], laterName, laterInput{Sleep: 6 * time.Second})
		},
		"within a small maximum": func() (string, error) {
			return run(users, issue("alice", 2*time.Second), queue[4*time.Second], laterName, laterInput{Sleep: 3 * time.Second})
		},
		"strict": func() (string, error) {
			return run(users, issue("alice", 2*time.Second), queue[0], laterName, laterInput{Sleep: 4 * time.Second})
		},
	}
	// The rogue cases: a token live now, expired when used; the rogue
	// workflow starts first, while the token is live, with none of its own.
	stolen := issue("alice", 2*time.Second)
	cases["rogue activity"] = func() (string, error) {
		return run(rogueClient, "", rogueQueue, rogueName, rogueInput{Token: stolen, Wait: 4 * time.Second, Queue: queue[time.Hour]})
	}
	cases["rogue child"] = func() (string, error) {
		return run(rogueClient, "", rogueQueue, rogueName, rogueInput{Token: stolen, Wait: 4 * time.Second, Queue: queue[time.Hour], Child: true})
	}
	// A rogue root started with another caller's live token of its own.
	bob := issue("bob", time.Hour)
	cases["rogue activity under another token"] = func() (string, error) {
		return run(rogueClient, bob, rogueQueue, rogueName, rogueInput{Token: stolen, Wait: 4 * time.Second, Queue: queue[time.Hour]})
	}
	// Alice's call whose child a namespace writer resets, below, while its
	// first run sleeps; the reset run then continues as new.
	resetChild := testenv.UniqueName(t, "child")
	if _, err := users.ExecuteWorkflow(auth.WithToken(ctx, issue("alice", 2*time.Second)),
		client.StartWorkflowOptions{ID: testenv.UniqueName(t, "parent"), TaskQueue: queue[time.Hour]}, laterName,
		laterInput{Child: true, Queue: queue[time.Hour], ChildID: resetChild, Inner: &laterInput{Sleep: 15 * time.Second, Continue: true}}); err != nil {
		t.Fatal(err)
	}
	results := map[string]chan result{}
	for name, f := range cases {
		ch := make(chan result, 1)
		results[name] = ch
		go func() {
			start := time.Now()
			user, err := f()
			ch <- result{user, err, time.Since(start)}
		}()
	}
	get := func(name string) result {
		r := <-results[name]
		t.Logf("%s: %q %v (%s)", name, r.user, r.err, r.took.Round(time.Millisecond))
		return r
	}
	for _, name := range []string{"activity after expiry", "child's activity after expiry", "child's continued run after expiry", "within a small maximum"} {
		if r := get(name); r.err != nil || r.user != "alice" {
			t.Errorf("%s: %q, %v; want it run as alice", name, r.user, r.err)
		}
	}
	// Alice's call, reset by someone who can write the namespace, runs
	// again from its start: not as alice, whose token has expired.
	reset, err := users.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{Namespace: srv.Namespace(),
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: aliceCall}, Reason: "replay", WorkflowTaskFinishEventId: 3,
		RequestId: testenv.UniqueName(t, "reset")})
	if err != nil {
		t.Fatal(err)
	}
	var user string
	err = users.GetWorkflow(ctx, aliceCall, reset.GetRunId()).Get(ctx, &user)
	t.Logf("alice's call reset: %q %v", user, err)
	refused("alice's call reset", err, "was reset")
	// The reset child run continues as new: its next run, whose parent is
	// alice's call, is refused too, its chain having been reset.
	reset, err = users.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{Namespace: srv.Namespace(),
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: resetChild}, Reason: "replay", WorkflowTaskFinishEventId: 3,
		RequestId: testenv.UniqueName(t, "reset")})
	if err != nil {
		t.Fatal(err)
	}
	err = users.GetWorkflow(ctx, resetChild, reset.GetRunId()).Get(ctx, &user)
	t.Logf("alice's call's child reset, then continued: %q %v", user, err)
	refused("alice's call's child reset, then continued", err, "was reset")
	refused("expired at the start", get("expired at the start").err, "before its call entered")
	refused("older than the maximum", get("older than the maximum").err, "maximum call age")
	refused("strict", get("strict").err, "expired")
	refused("rogue activity", get("rogue activity").err, "not the token its call entered with")
	refused("rogue child", get("rogue child").err, "not the token its call entered with")
	refused("rogue activity under another token", get("rogue activity under another token").err, "carries another")
}
