package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
)

func TestCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	f.start("h2")
	c := f.client(rpc.Options{})
	ctx := context.Background()

	var any echoResp
	if err := c.Call(ctx, f.topic, "echo", echoReq{Msg: "hello"}, &any); err != nil {
		t.Fatal(err)
	}
	if any.Msg != "hello" || (any.Host != "h1" && any.Host != "h2") || !any.InActivity {
		t.Errorf("any host: %+v", any)
	}

	for _, host := range []string{"h1", "h2", "h1"} {
		var got echoResp
		if err := c.Call(ctx, f.topic, "echo", echoReq{Msg: "x", InstanceUUID: "u-" + host}, &got, rpc.ToHost(host)); err != nil {
			t.Fatal(err)
		}
		if got.Host != host {
			t.Errorf("ToHost(%s) ran on %s", host, got.Host)
		}
	}

	// A request's own "host" routes it too; a method that declares "host"
	// receives it.
	var where whereResp
	if err := c.Call(ctx, f.topic, "where", map[string]string{"host": "h2"}, &where); err != nil {
		t.Fatal(err)
	}
	if where.Host != "h2" || where.RanOn != "h2" {
		t.Errorf("where: %+v, want host and ran_on h2", where)
	}
	var raw json.RawMessage
	if err := c.Call(ctx, f.topic, "echo", json.RawMessage(`{"msg":"raw","host":"h1"}`), &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"host":"h1"`) {
		t.Errorf("raw result %s, want host h1", raw)
	}
	err := c.Call(ctx, f.topic, "echo", map[string]string{"msg": "x", "host": "h1"}, nil, rpc.ToHost("h2"))
	if e := asError(t, err); e.Type != managers.InvalidArgumentType || e.Field != "host" {
		t.Errorf("conflicting hosts: %v, want InvalidArgument of host", err)
	}
}

func TestCallSearchAttributes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	c := f.client(rpc.Options{})
	ctx := context.Background()
	if err := c.Call(ctx, f.topic, "echo", echoReq{Msg: "x", InstanceUUID: "u-42"}, nil, rpc.ToHost("h1"), rpc.RequestID("sa")); err != nil {
		t.Fatal(err)
	}
	id := rpc.WorkflowID(f.topic, "echo", "h1", "sa")
	if want := f.topic + ".echo/h1/sa"; id != want {
		t.Fatalf("WorkflowID = %s, want %s", id, want)
	}
	desc, err := f.temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, p := range desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields() {
		var v string
		_ = json.Unmarshal(p.GetData(), &v)
		got[k] = v
	}
	want := map[string]string{"NovaflowTopic": f.topic, "NovaflowHost": "h1", "NovaflowMethod": "echo", "NovaflowInstance": "u-42"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("search attribute %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	// What `temporal workflow list --query` runs.
	query := `NovaflowTopic="` + f.topic + `" AND NovaflowHost="h1" AND NovaflowInstance="u-42"`
	waitFor(t, 10*time.Second, "the call in the visibility list", func() bool {
		n, err := f.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		return err == nil && n.GetCount() == 1
	})
}

func TestCallTypedErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	c := f.client(rpc.Options{})
	tests := []struct {
		name string
		req  failReq
	}{
		{"not found", failReq{Type: managers.NotFoundType, Message: "instance u-1 not found"}},
		{"invalid argument", failReq{Type: managers.InvalidArgumentType, Field: "flavor", Message: "no such flavor"}},
		{"conflict", failReq{Type: managers.ConflictType, Message: "instance is building"}},
		{"manager's own type", failReq{Type: "QuotaExceeded", Message: "too many instances"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := c.Call(context.Background(), f.topic, "fail", tt.req, nil, rpc.ToHost("h1"))
			e := asError(t, err)
			if e.Type != tt.req.Type || e.Field != tt.req.Field || e.Message != tt.req.Message {
				t.Errorf("error %#v, want %+v", e, tt.req)
			}
			if !errors.Is(err, &managers.Error{Type: tt.req.Type}) {
				t.Errorf("errors.Is(%v, type %s) = false", err, tt.req.Type)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("a typed error took %s: retried?", d)
			}
		})
	}
	t.Run("bad request", func(t *testing.T) {
		err := c.Call(context.Background(), f.topic, "echo", map[string]any{"msg": "x", "bogus": true}, nil)
		if e := asError(t, err); e.Type != managers.InvalidArgumentType || e.Field != "bogus" {
			t.Errorf("error %v, want InvalidArgument of bogus", err)
		}
	})
	t.Run("unavailable is retried until the deadline", func(t *testing.T) {
		err := c.Call(context.Background(), f.topic, "fail", failReq{Type: managers.UnavailableType, Message: "busy"}, nil, rpc.Timeout(3*time.Second))
		if !rpc.IsTimeout(err) || !strings.Contains(err.Error(), "busy") {
			t.Errorf("error %v, want a timeout whose last failure is Unavailable: busy", err)
		}
	})
}

func TestCallRetriesUntypedFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	c := f.client(rpc.Options{})
	var got keyResp
	if err := c.Call(context.Background(), f.topic, "flaky", keyReq{Key: "k", Failures: 2}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Runs != 3 {
		t.Errorf("ran %d times, want 3 (two failures, then success)", got.Runs)
	}
	err := c.Call(context.Background(), f.topic, "flaky", keyReq{Key: "always", Failures: 100}, nil, rpc.Timeout(4*time.Second))
	if !rpc.IsTimeout(err) || !strings.Contains(err.Error(), "last failure: transient failure") {
		t.Errorf("retries out of time: %v, want a timeout naming the last failure", err)
	}
	if n := f.st.count("always"); n < 2 {
		t.Errorf("ran %d times in 4s, want retries", n)
	}
}

// TestLiveTimeouts: Options.Timeouts is read at each call, so a service's
// SIGHUP changes the timeouts of the calls its manager makes from then on.
func TestLiveTimeouts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	var response atomic.Int64
	response.Store(int64(time.Minute))
	c := f.client(rpc.Options{ResponseTimeout: time.Hour, Timeouts: func() (time.Duration, time.Duration) {
		return time.Duration(response.Load()), 0
	}})
	// As after a SIGHUP; the context fails the call fast if the 2s is ignored.
	response.Store(int64(2 * time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := c.Call(ctx, f.topic, "echo", echoReq{Msg: "x"}, nil, rpc.ToHost("never-started"))
	took := time.Since(start)
	if !rpc.IsTimeout(err) || took > 6*time.Second {
		t.Fatalf("error %v after %s, want a timeout within the 2s now in force (plus the wait for the server's answer)", err, took)
	}
	t.Logf("%v after %s", err, took)
	if !strings.Contains(err.Error(), "2s") {
		t.Errorf("error %q does not name the 2s timeout", err)
	}
}

func TestCallDeadHost(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	f.start("h2")
	f.stop("h2")
	c := f.client(rpc.Options{ResponseTimeout: 3 * time.Second})
	for _, host := range []string{"h2", "never-started"} {
		t.Run(host, func(t *testing.T) {
			start := time.Now()
			err := c.Call(context.Background(), f.topic, "echo", echoReq{Msg: "x"}, nil, rpc.ToHost(host))
			took := time.Since(start)
			if !rpc.IsTimeout(err) || !errors.Is(err, rpc.ErrTimeout) {
				t.Fatalf("error %v, want a timeout", err)
			}
			if !strings.Contains(err.Error(), f.topic+"."+host) {
				t.Errorf("error %q does not name queue %s.%s", err, f.topic, host)
			}
			if took < 2*time.Second || took > 3*time.Second+time.Second {
				t.Errorf("timed out after %s, want within the 3s timeout", took)
			}
			t.Logf("dead host %s: %v after %s", host, err, took)
		})
	}
	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err := c.Call(ctx, f.topic, "echo", echoReq{Msg: "x"}, nil, rpc.ToHost("h2"))
		if !rpc.IsTimeout(err) {
			t.Fatalf("error %v, want a timeout", err)
		}
	})
}

// TestCallUnknownMethodOnHost: a call of a method the host's code does not
// have (a newer release's, or a typo) fails at once with UnsupportedVersion
// naming the method and the host, instead of waiting out its timeout.
func TestCallUnknownMethodOnHost(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	c := f.client(rpc.Options{ResponseTimeout: 30 * time.Second})
	start := time.Now()
	err := c.Call(context.Background(), f.topic, "describe_host", echoReq{Msg: "x"}, nil, rpc.ToHost("h1"))
	took := time.Since(start)
	e := asError(t, err)
	if e.Type != managers.UnsupportedVersionType || !strings.Contains(e.Message, f.topic+".describe_host") || !strings.Contains(e.Message, "host h1") {
		t.Fatalf("error %v, want UnsupportedVersion naming the method and the host", err)
	}
	if took > 10*time.Second {
		t.Errorf("the call failed after %s, want at once", took)
	}
	t.Logf("unknown method: %v after %s", err, took.Round(time.Millisecond))
}

func TestCastSurvivesRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	f.start("h2")
	f.stop("h1")
	c := f.client(rpc.Options{})
	ctx := context.Background()

	exec, err := c.Cast(ctx, f.topic, "count", keyReq{Key: "cast"}, rpc.ToHost("h1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(exec.WorkflowID, f.topic+".count/h1/") || exec.RunID == "" {
		t.Errorf("execution %+v", exec)
	}
	time.Sleep(2 * time.Second)
	desc, err := f.temporal.DescribeWorkflowExecution(ctx, exec.WorkflowID, exec.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if s := desc.GetWorkflowExecutionInfo().GetStatus(); s != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("cast to a stopped host is %s, want running", s)
	}
	if n := f.st.count("cast"); n != 0 {
		t.Fatalf("ran %d times while the host was down", n)
	}

	f.start("h1")
	var got keyResp
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := f.temporal.GetWorkflow(waitCtx, exec.WorkflowID, exec.RunID).Get(waitCtx, &got); err != nil {
		t.Fatal(err)
	}
	if got.Host != "h1" || got.Runs != 1 {
		t.Errorf("cast result %+v, want one run on h1", got)
	}
}

func TestCastTimesOutVisibly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	c := f.client(rpc.Options{CastTimeout: 2 * time.Second})
	ctx := context.Background()
	exec, err := c.Cast(ctx, f.topic, "echo", echoReq{Msg: "x"}, rpc.ToHost("gone"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Result(ctx, exec, nil)
	if e := asError(t, err); e.Type != managers.TimeoutType {
		t.Errorf("error %v, want a Timeout", err)
	}
	desc, err := f.temporal.DescribeWorkflowExecution(ctx, exec.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	if s := desc.GetWorkflowExecutionInfo().GetStatus(); s != enums.WORKFLOW_EXECUTION_STATUS_FAILED {
		t.Errorf("status %s, want failed", s)
	}
}

func TestFanout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	f.start("h2")
	f.ghost("h3", testServiceVersion) // up in the table, not running
	f.start("h4")
	if _, err := f.store.SetDisabled(context.Background(), "h4", f.binary, true, "maintenance"); err != nil {
		t.Fatal(err)
	}
	c := f.client(rpc.Options{})
	start := time.Now()
	res, err := c.Fanout(context.Background(), f.topic, "where", nil, rpc.Timeout(4*time.Second), rpc.RequestID("all"))
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("results %+v, want h1, h2, h3 and h4 (disabled, but a fanout reaches every host, as in nova)", res)
	}
	for i, host := range []string{"h1", "h2", "", "h4"} {
		if host == "" {
			continue
		}
		var got whereResp
		if res[i].Host != host || res[i].Decode(&got) != nil || got.Host != host || got.RanOn != host {
			t.Errorf("result %d: %+v (%+v), want host %s", i, res[i], got, host)
		}
	}
	if res[2].Host != "h3" || !rpc.IsTimeout(res[2].Err) {
		t.Errorf("result of h3: %+v, want a timeout", res[2])
	}
	if took > 4*time.Second+time.Second {
		t.Errorf("fanout took %s; the dead host held it up", took)
	}
	if !strings.HasSuffix(rpc.WorkflowID(f.topic, "where", rpc.AllHosts, "all"), "/*/all") {
		t.Error("fanout workflow ID does not show *")
	}
	if _, err := f.temporal.DescribeWorkflowExecution(context.Background(), rpc.WorkflowID(f.topic, "where", rpc.AllHosts, "all"), ""); err != nil {
		t.Errorf("fanout execution: %v", err)
	}
}

// TestFanoutHostFailureKind: a host whose method fails on every try with an
// untyped error until the deadline shows in a fanout's result with that
// error's Go type (activities.ErrorType, sent by the host's activity) and
// message, not as a Timeout, which is for a host that did not take or
// finish its call; a call of the same gets a Timeout whose last failure
// names the type.
func TestFanoutHostFailureKind(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	c := f.client(rpc.Options{})
	req := map[string]any{"key": "/var/lib/x"}
	res, err := c.Fanout(context.Background(), f.topic, "broken", req, rpc.Timeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := managers.AsError(res[0].Err); len(res) != 1 || !ok || e.Type != "*fs.PathError" ||
		!strings.HasPrefix(e.Message, "open /var/lib/x: file does not exist (its last failure") {
		t.Errorf("results %+v, want h1's *fs.PathError", res)
	}
	err = c.Call(context.Background(), f.topic, "broken", req, nil, rpc.ToHost("h1"), rpc.Timeout(3*time.Second))
	if !rpc.IsTimeout(err) || !strings.Contains(err.Error(), "last failure: *fs.PathError: open /var/lib/x: file does not exist") {
		t.Errorf("call: %v, want a Timeout naming its last failure's type, *fs.PathError", err)
	}
}

func TestIdempotentRequestIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	c := f.client(rpc.Options{})
	ctx := context.Background()

	t.Run("call", func(t *testing.T) {
		var first, second keyResp
		if err := c.Call(ctx, f.topic, "count", keyReq{Key: "call"}, &first, rpc.RequestID("r1")); err != nil {
			t.Fatal(err)
		}
		if err := c.Call(ctx, f.topic, "count", keyReq{Key: "call"}, &second, rpc.RequestID("r1")); err != nil {
			t.Fatal(err)
		}
		if first.Runs != 1 || second != first || f.st.count("call") != 1 {
			t.Errorf("results %+v then %+v, %d runs; want the first result twice and one run", first, second, f.st.count("call"))
		}
		var other keyResp
		if err := c.Call(ctx, f.topic, "count", keyReq{Key: "call"}, &other, rpc.RequestID("r2")); err != nil || other.Runs != 2 {
			t.Errorf("another request ID: %+v, %v; want a second run", other, err)
		}
	})
	t.Run("concurrent calls", func(t *testing.T) {
		var wg sync.WaitGroup
		results := make([]keyResp, 3)
		errs := make([]error, 3)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.Call(ctx, f.topic, "block", keyReq{Key: "conc"}, &results[i], rpc.RequestID("same"))
			}()
		}
		waitFor(t, 10*time.Second, "the blocked call to start", func() bool { return f.st.count("conc") > 0 })
		time.Sleep(500 * time.Millisecond)
		f.st.release("conc")
		wg.Wait()
		for i := range results {
			if errs[i] != nil || results[i].Runs != 1 {
				t.Errorf("call %d: %+v, %v", i, results[i], errs[i])
			}
		}
		if n := f.st.count("conc"); n != 1 {
			t.Errorf("ran %d times, want once", n)
		}
	})
	t.Run("cast", func(t *testing.T) {
		a, err := c.Cast(ctx, f.topic, "count", keyReq{Key: "cast"}, rpc.RequestID("c1"))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.temporal.GetWorkflow(ctx, a.WorkflowID, a.RunID).Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
		b, err := c.Cast(ctx, f.topic, "count", keyReq{Key: "cast"}, rpc.RequestID("c1"))
		if err != nil {
			t.Fatal(err)
		}
		if a != b || f.st.count("cast") != 1 {
			t.Errorf("casts %+v and %+v, %d runs; want the same execution, one run", a, b, f.st.count("cast"))
		}
	})
}

func TestLocalCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc := f.start("h1")
	c := f.client(rpc.Options{})
	c.AddLocal(f.topic, "h1", svc.Manager().RPCMethods())
	ctx := context.Background()

	var got echoResp
	if err := c.Call(ctx, f.topic, "echo", echoReq{Msg: "x"}, &got, rpc.ToHost("h1")); err != nil {
		t.Fatal(err)
	}
	if got.InActivity || got.Host != "h1" {
		t.Errorf("local call: %+v, want run directly on h1", got)
	}
	err := c.Call(ctx, f.topic, "echo", map[string]any{"msg": 3}, nil, rpc.ToHost("h1"))
	if e := asError(t, err); e.Type != managers.InvalidArgumentType || e.Field != "msg" {
		t.Errorf("local bad request: %v, want InvalidArgument of msg", err)
	}
	err = c.Call(ctx, f.topic, "fail", failReq{Type: managers.NotFoundType, Message: "gone"}, nil, rpc.ToHost("h1"))
	if e := asError(t, err); e.Type != managers.NotFoundType {
		t.Errorf("local typed error: %v", err)
	}
	// A request stamped 1.0 that sets greet's title, added in 1.1, is
	// refused by the callee, here the local service.
	err = c.Call(ctx, f.topic, "greet", greetReq{Name: "a", Title: "Dr"}, nil, rpc.ToHost("h1"), rpc.Version("1.0"))
	if e := asError(t, err); e.Type != managers.InvalidArgumentType || e.Field != "title" {
		t.Errorf("local 1.0 request with title: %v, want InvalidArgument of title", err)
	}
	for _, opt := range []rpc.CallOption{rpc.Remote(), rpc.RequestID("through-temporal")} {
		if err := c.Call(ctx, f.topic, "echo", echoReq{Msg: "x"}, &got, rpc.ToHost("h1"), opt); err != nil {
			t.Fatal(err)
		}
		if !got.InActivity {
			t.Errorf("Remote or RequestID call ran locally: %+v", got)
		}
	}
	c.RemoveLocal(f.topic, "h1")
	if err := c.Call(ctx, f.topic, "echo", echoReq{Msg: "x"}, &got, rpc.ToHost("h1")); err != nil || !got.InActivity {
		t.Errorf("after RemoveLocal: %+v, %v; want a remote call", got, err)
	}
}

// waitFor polls cond until it holds or the wait times out.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
