package rpc_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/worker"
	"github.com/novaflow/novaflow/workflows"
)

// greetReq is greet's request at API 1.1: title was added in 1.1. It has
// no omitempty, so a zero title is on the wire unless a call at 1.0 drops
// it.
type greetReq struct {
	Name  string `json:"name" required:"true"`
	Title string `json:"title" since:"1.1"`
}

// greetReqV0 is greet's request at API 1.0, as the older release has it.
type greetReqV0 struct {
	Name string `json:"name" required:"true"`
}

type greetResp struct {
	Greeting string `json:"greeting"`
	Host     string `json:"host"`
	// Version is the version the call was made at, as the callee sees it.
	Version string `json:"version"`
}

func (m *testManager) greet(ctx context.Context, req greetReq) (greetResp, error) {
	g := "hello " + req.Name
	if req.Title != "" {
		g = "hello " + req.Title + " " + req.Name
	}
	return greetResp{Greeting: g, Host: m.host, Version: managers.CallVersion(ctx)}, nil
}

// oldManager is the test manager of the previous release: API 1.0, greet
// without title, no wave.
type oldManager struct{ testManager }

func (m *oldManager) RPCMethods() []managers.Method {
	return []managers.Method{
		managers.NewMethod("echo", "1.0", m.echo).WithObject("instance_uuid"),
		managers.NewMethod("greet", "1.0", func(ctx context.Context, req greetReqV0) (greetResp, error) {
			return m.greet(ctx, greetReq{Name: req.Name})
		}),
	}
}

type callerReq struct {
	Host   string `json:"host"`
	Method string `json:"method"`
	Title  string `json:"title,omitempty"`
	Cast   bool   `json:"cast,omitempty"`
	Fanout bool   `json:"fanout,omitempty"`
}

type callerResp struct {
	Greet    greetResp `json:"greet"`
	ErrType  string    `json:"err_type,omitempty"`
	ErrField string    `json:"err_field,omitempty"`
	ErrMsg   string    `json:"err_msg,omitempty"`
	CastID   string    `json:"cast_id,omitempty"`
	// Fanout is each host's version, or its error.
	Fanout  map[string]string `json:"fanout,omitempty"`
	CanSend bool              `json:"can_send_1_1"`
	Level   string            `json:"level"`
}

// versionedCaller is a workflow of the test topic's services that calls a
// method of the topic from workflow code and reports what happened.
func versionedCaller(topic string) func(ctx workflow.Context, req callerReq) (callerResp, error) {
	return func(ctx workflow.Context, req callerReq) (callerResp, error) {
		var r callerResp
		var err error
		if r.Level, err = rpc.UpgradeLevelFromWorkflow(ctx, topic); err != nil {
			return r, err
		}
		if r.CanSend, err = rpc.CanSendVersionFromWorkflow(ctx, topic, "1.1"); err != nil {
			return r, err
		}
		greet := greetReq{Name: "wf", Title: req.Title}
		switch {
		case req.Fanout:
			var hosts []rpc.HostResult
			hosts, err = rpc.FanoutFromWorkflow(ctx, topic, req.Method, greet, rpc.Timeout(30*time.Second))
			r.Fanout = fanoutVersions(hosts)
		case req.Cast:
			var exec rpc.Execution
			exec, err = rpc.CastFromWorkflow(ctx, topic, req.Method, greet, rpc.ToHost(req.Host), rpc.Timeout(time.Minute))
			r.CastID = exec.WorkflowID
		default:
			err = rpc.CallFromWorkflow(ctx, topic, req.Method, greet, &r.Greet, rpc.ToHost(req.Host), rpc.Timeout(30*time.Second))
		}
		if e, ok := managers.AsError(err); ok {
			r.ErrType, r.ErrField, r.ErrMsg = e.Type, e.Field, e.Message
		} else if err != nil {
			return r, err
		}
		return r, nil
	}
}

// fanoutVersions is the version each host of a fanout was called at, or
// its error.
func fanoutVersions(hosts []rpc.HostResult) map[string]string {
	out := map[string]string{}
	for _, h := range hosts {
		var g greetResp
		if err := h.Decode(&g); err != nil {
			out[h.Host] = err.Error()
			continue
		}
		out[h.Host] = g.Version
	}
	return out
}

// allAt reports whether every host of the topic's four services answered
// a fanout at version.
func allAt(versions map[string]string, version string) bool {
	if len(versions) != 4 {
		return false
	}
	for _, v := range versions {
		if v != version {
			return false
		}
	}
	return true
}

// startWith starts the fixture topic's service on host with opts (its
// manager, its environment).
func (f *fixture) startWith(host string, opts worker.Options) {
	f.t.Helper()
	opts.Topic, opts.Binary, opts.Temporal, opts.DB = f.topic, f.binary, f.temporal, f.pool
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{f.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, err := worker.Create(f.config(host), opts)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		f.t.Fatalf("start %s on %s: %v", f.topic, host, err)
	}
	f.t.Cleanup(func() { svc.Stop(context.Background()) })
}

// TestMixedMinorVersions: two releases of one topic's manager run side by
// side, host "old" at API 1.0 (greet without title, no wave) and host
// "new" at API 1.1. Callers capped at 1.0, by a fixed level or by auto,
// from a client and from workflow code, send 1.0's form (the zero title
// dropped, the version stamped) or fail at the caller (a title set, wave);
// the newer host serves an older caller; decoding stays strict.
func TestMixedMinorVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := f.topic + "-old"
	st := f.st
	managers.Register(managers.Definition{
		Name: old, Topic: f.topic, Version: 1, RPCVersions: map[int]string{1: "1.0"},
		Methods: func() []managers.Method { return (&oldManager{}).RPCMethods() },
		New: func(d managers.Deps) (managers.Manager, error) {
			return &oldManager{testManager{topic: d.Topic, host: d.Host, st: st}}, nil
		},
	})
	// The older release first: a service does not start below a newer one.
	f.startWith("old", worker.Options{Manager: old})
	f.startWith("new", worker.Options{})
	level := rpc.UpgradeLevelEnv(f.topic)
	f.startWith("capped", worker.Options{Env: worker.Env{level: "1.0"}})
	f.startWith("auto", worker.Options{Env: worker.Env{level: rpc.AutoLevel}})
	ctx := context.Background()

	refusedAtCaller := func(t *testing.T, err error, field string, words ...string) {
		t.Helper()
		e := asError(t, err)
		if e.Type != managers.UnsupportedVersionType || e.Field != field {
			t.Fatalf("%v: want UnsupportedVersion of field %q at the caller", err, field)
		}
		for _, w := range words {
			if !strings.Contains(e.Message, w) {
				t.Errorf("%q does not say %q", e.Message, w)
			}
		}
	}

	for _, setting := range []string{"1.0", rpc.AutoLevel} {
		t.Run("client capped by "+setting, func(t *testing.T) {
			c := f.client(rpc.Options{UpgradeLevels: map[string]string{f.topic: setting}})
			// A zero newer field is dropped: the older host serves the call at 1.0.
			var r greetResp
			if err := c.Call(ctx, f.topic, "greet", greetReq{Name: "a"}, &r, rpc.ToHost("old")); err != nil {
				t.Fatalf("greet capped at 1.0 on the older host: %v", err)
			}
			if r.Version != "1.0" || r.Host != "old" || r.Greeting != "hello a" {
				t.Errorf("greet on the older host: %+v, want it served at 1.0", r)
			}
			// On any host, old or new: the same form.
			for range 4 {
				if err := c.Call(ctx, f.topic, "greet", greetReq{Name: "b"}, &r); err != nil || r.Version != "1.0" {
					t.Fatalf("greet on any host: %+v, %v", r, err)
				}
			}
			// A fanout reaches old and new hosts in the same form.
			hosts, err := c.Fanout(ctx, f.topic, "greet", greetReq{Name: "f"})
			if v := fanoutVersions(hosts); err != nil || !allAt(v, "1.0") {
				t.Errorf("fanout capped at 1.0: %v, %v; want every host at 1.0", v, err)
			}
			// A set newer field is refused at the caller, naming method,
			// field and both versions.
			_, err = c.Cast(ctx, f.topic, "greet", greetReq{Name: "a", Title: "Dr"}, rpc.ToHost("old"))
			refusedAtCaller(t, err, "title", "greet", "1.1", "1.0", level)
			// A method added in 1.1: refused at the caller.
			err = c.Call(ctx, f.topic, "wave", greetReq{Name: "a"}, nil, rpc.ToHost("new"))
			refusedAtCaller(t, err, "version", f.topic+".wave", "added in version 1.1", "1.0")
		})
	}

	t.Run("newer host serves an older caller", func(t *testing.T) {
		c := f.client(rpc.Options{})
		var r greetResp
		if err := c.Call(ctx, f.topic, "greet", map[string]string{"name": "c"}, &r, rpc.ToHost("new"), rpc.Version("1.0")); err != nil {
			t.Fatalf("a 1.0 request on the newer host: %v", err)
		}
		if r.Version != "1.0" || r.Host != "new" || r.Greeting != "hello c" {
			t.Errorf("a 1.0 request on the newer host: %+v", r)
		}
		// Uncapped, a caller of the newer release uses the new field.
		if err := c.Call(ctx, f.topic, "greet", greetReq{Name: "c", Title: "Dr"}, &r, rpc.ToHost("new")); err != nil ||
			r.Version != "1.1" || r.Greeting != "hello Dr c" {
			t.Errorf("a 1.1 request on the newer host: %+v, %v", r, err)
		}
		// A request stamped 1.0 that sets title, added in 1.1, is refused
		// by the callee, naming the field and both versions.
		err := c.Call(ctx, f.topic, "greet", greetReq{Name: "c", Title: "Dr"}, &r, rpc.ToHost("new"), rpc.Version("1.0"))
		if e := asError(t, err); e.Type != managers.InvalidArgumentType || e.Field != "title" ||
			!strings.Contains(e.Message, "1.1") || !strings.Contains(e.Message, "1.0") {
			t.Errorf("a 1.0 request with title: %v, want InvalidArgument of title naming 1.1 and 1.0", err)
		}
		// Decoding stays strict: an unknown field is InvalidArgument naming it.
		err = c.Call(ctx, f.topic, "greet", map[string]string{"name": "c", "titel": "x"}, nil, rpc.ToHost("new"))
		if e := asError(t, err); e.Type != managers.InvalidArgumentType || e.Field != "titel" {
			t.Errorf("an unknown field: %v, want InvalidArgument of titel", err)
		}
	})

	for _, caller := range []string{"capped", "auto"} {
		t.Run("workflow on a service capped by "+caller, func(t *testing.T) {
			run := func(t *testing.T, req callerReq) callerResp {
				t.Helper()
				opts := client.StartWorkflowOptions{TaskQueue: workflows.HostQueue(f.topic, caller), WorkflowExecutionTimeout: time.Minute}
				wr, err := f.temporal.ExecuteWorkflow(ctx, opts, f.topic+".versioned_caller", req)
				if err != nil {
					t.Fatal(err)
				}
				var r callerResp
				if err := wr.Get(ctx, &r); err != nil {
					t.Fatal(err)
				}
				if r.Level != "1.0" || r.CanSend {
					t.Errorf("level %q, can send 1.1 = %v; want 1.0, false", r.Level, r.CanSend)
				}
				return r
			}
			r := run(t, callerReq{Host: "old", Method: "greet"})
			if r.ErrType != "" || r.Greet.Version != "1.0" || r.Greet.Host != "old" {
				t.Errorf("greet from a workflow to the older host: %+v, want it served at 1.0", r)
			}
			r = run(t, callerReq{Host: "new", Method: "greet"})
			if r.ErrType != "" || r.Greet.Version != "1.0" || r.Greet.Host != "new" {
				t.Errorf("greet from a workflow to the newer host: %+v, want it sent at 1.0", r)
			}
			r = run(t, callerReq{Host: "old", Method: "greet", Title: "Dr"})
			if r.ErrType != managers.UnsupportedVersionType || r.ErrField != "title" || !strings.Contains(r.ErrMsg, level) {
				t.Errorf("a set title from a workflow: %+v, want UnsupportedVersion of title at the caller", r)
			}
			r = run(t, callerReq{Host: "new", Method: "wave"})
			if r.ErrType != managers.UnsupportedVersionType || !strings.Contains(r.ErrMsg, "added in version 1.1") {
				t.Errorf("wave from a workflow: %+v, want UnsupportedVersion at the caller", r)
			}
			r = run(t, callerReq{Method: "greet", Fanout: true})
			if r.ErrType != "" || !allAt(r.Fanout, "1.0") {
				t.Errorf("fanout from a workflow: %+v, want every host at 1.0", r)
			}
			// A cast carries the capped version as its memo.
			r = run(t, callerReq{Host: "old", Method: "greet", Cast: true})
			if r.ErrType != "" || r.CastID == "" {
				t.Fatalf("cast from a workflow: %+v", r)
			}
			var g greetResp
			if err := f.client(rpc.Options{}).Result(ctx, rpc.Execution{WorkflowID: r.CastID}, &g); err != nil || g.Version != "1.0" {
				t.Errorf("the cast ran: %+v, %v; want it at 1.0", g, err)
			}
		})
	}

	t.Run("workflow on an uncapped service", func(t *testing.T) {
		opts := client.StartWorkflowOptions{TaskQueue: workflows.HostQueue(f.topic, "new"), WorkflowExecutionTimeout: time.Minute}
		wr, err := f.temporal.ExecuteWorkflow(ctx, opts, f.topic+".versioned_caller", callerReq{Host: "new", Method: "greet", Title: "Dr"})
		if err != nil {
			t.Fatal(err)
		}
		var r callerResp
		if err := wr.Get(ctx, &r); err != nil {
			t.Fatal(err)
		}
		if r.Level != "" || !r.CanSend || r.Greet.Version != "1.1" || r.Greet.Greeting != "hello Dr wf" {
			t.Errorf("uncapped: %+v, want greet at 1.1 with its title", r)
		}
	})
}
