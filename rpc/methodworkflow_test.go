package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/workflows"
)

const testTopic = "wftest"

type echoReq struct {
	Msg          string `json:"msg" required:"true"`
	InstanceUUID string `json:"instance_uuid,omitempty"`
}

type echoResp struct {
	Msg string `json:"msg"`
}

func (r echoReq) Validate() error {
	if r.Msg == "invalid" {
		return managers.InvalidArgument("msg", "must not be %q", r.Msg)
	}
	return nil
}

type hostReq struct {
	Host string `json:"host" required:"true"`
}

func testMethods() []managers.Method {
	return []managers.Method{
		managers.NewMethod("echo", "1.2", func(ctx context.Context, req echoReq) (echoResp, error) {
			return echoResp{Msg: req.Msg}, nil
		}).WithObject("instance_uuid"),
		managers.NewMethod("missing", "1.0", func(ctx context.Context, req echoReq) (echoResp, error) {
			return echoResp{}, managers.NotFound("instance", req.Msg)
		}),
		managers.NewMethod("where", "1.0", func(ctx context.Context, req hostReq) (hostReq, error) {
			return req, nil
		}),
	}
}

func method(t *testing.T, name string) managers.Method {
	t.Helper()
	for _, m := range testMethods() {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no test method %s", name)
	return managers.Method{}
}

// started records the activities a test workflow started.
type started struct {
	mu    sync.Mutex
	infos []activity.Info
}

func (s *started) listen(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.infos = append(s.infos, *info)
}

func (s *started) list() []activity.Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]activity.Info(nil), s.infos...)
}

// newEnv returns a test environment that runs the test methods' workflows
// and activities for real, recording the activities started (local ones
// too: on a host's own queue the method runs as a local activity).
func newEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *started) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	RegisterWorkflows(env, testTopic, testMethods(), WorkflowOptions{DefaultTimeout: 10 * time.Minute})
	activities.RegisterMethods(env, testTopic, testMethods())
	s := &started{}
	env.SetOnActivityStartedListener(s.listen)
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, ctx context.Context, _ []any) { s.listen(info, ctx, nil) })
	return env, s
}

func typedError(t *testing.T, err error) *managers.Error {
	t.Helper()
	if err == nil {
		t.Fatal("workflow succeeded; want an error")
	}
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error %v is no application error", err)
	}
	e, ok := managers.AsError(activities.FromApplicationError(err))
	if !ok {
		t.Fatalf("error %v is not typed", err)
	}
	if e.Type != managers.TimeoutType && e.Type != managers.UnavailableType && !appErr.NonRetryable() {
		t.Errorf("typed error %v is retryable", err)
	}
	return e
}

func TestMethodWorkflowCall(t *testing.T) {
	env, s := newEnv(t)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: testTopic, WorkflowExecutionTimeout: 20 * time.Second})
	env.ExecuteWorkflow("wftest.echo", json.RawMessage(`{"msg":"hi","host":"h1","instance_uuid":"u-1"}`))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var got echoResp
	if err := env.GetWorkflowResult(&got); err != nil || got.Msg != "hi" {
		t.Fatalf("result %+v, %v; want msg hi", got, err)
	}
	infos := s.list()
	if len(infos) != 1 {
		t.Fatalf("%d activities started, want 1", len(infos))
	}
	a := infos[0]
	if a.ActivityType.Name != "wftest.echo" || a.TaskQueue != "wftest.h1" {
		t.Errorf("activity %s on %s, want wftest.echo on wftest.h1", a.ActivityType.Name, a.TaskQueue)
	}
	// 20s deadline, less a tenth (at most 2s) to report.
	if a.ScheduleToCloseTimeout != 18*time.Second || a.HeartbeatTimeout != 0 {
		t.Errorf("schedule-to-close %s, heartbeat %s; want 18s and none", a.ScheduleToCloseTimeout, a.HeartbeatTimeout)
	}
}

func TestMethodWorkflowRouting(t *testing.T) {
	tests := []struct {
		name, queue, input, want string
	}{
		{"any host", testTopic, `{"msg":"x"}`, testTopic},
		{"null host", testTopic, `{"msg":"x","host":null}`, testTopic},
		{"empty host", testTopic, `{"msg":"x","host":""}`, testTopic},
		{"host field", testTopic, `{"msg":"x","host":"h2"}`, testTopic + ".h2"},
		{"host queue", testTopic + ".h3", `{"msg":"x"}`, testTopic + ".h3"},
		{"field wins over queue", testTopic + ".h3", `{"msg":"x","host":"h4"}`, testTopic + ".h4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, s := newEnv(t)
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: tt.queue})
			env.ExecuteWorkflow("wftest.echo", json.RawMessage(tt.input))
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if infos := s.list(); len(infos) != 1 || infos[0].TaskQueue != tt.want {
				t.Fatalf("activities %+v, want one on %s", infos, tt.want)
			}
		})
	}
}

func TestMethodWorkflowDeclaredHost(t *testing.T) {
	env, s := newEnv(t)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: testTopic + ".h7"})
	// No "host" in the request: the queue's host is the target, and the
	// method, which declares "host", receives it.
	env.ExecuteWorkflow("wftest.where", json.RawMessage(`{}`))
	var got hostReq
	if err := env.GetWorkflowResult(&got); err != nil || got.Host != "h7" {
		t.Fatalf("result %+v, %v; want host h7", got, err)
	}
	if infos := s.list(); len(infos) != 1 || infos[0].TaskQueue != testTopic+".h7" {
		t.Fatalf("activities %+v, want one on %s.h7", infos, testTopic)
	}
}

func TestMethodWorkflowInvalidInput(t *testing.T) {
	tests := []struct {
		name      string
		input     any
		wantField string
	}{
		{"unknown field", json.RawMessage(`{"msg":"x","bogus":1}`), "bogus"},
		{"wrong type", json.RawMessage(`{"msg":5}`), "msg"},
		{"missing required", json.RawMessage(`{}`), "msg"},
		{"null required", json.RawMessage(`{"msg":null}`), "msg"},
		{"validate", json.RawMessage(`{"msg":"invalid"}`), "msg"},
		{"not an object", json.RawMessage(`[1,2]`), ""},
		{"host not a string", json.RawMessage(`{"msg":"x","host":7}`), "host"},
		{"bad host name", json.RawMessage(`{"msg":"x","host":"a b"}`), "host"},
		{"not JSON", []byte("raw bytes"), ""},
		{"no input", nil, "msg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, s := newEnv(t)
			if tt.input == nil {
				env.ExecuteWorkflow("wftest.echo")
			} else {
				env.ExecuteWorkflow("wftest.echo", tt.input)
			}
			e := typedError(t, env.GetWorkflowError())
			if e.Type != managers.InvalidArgumentType || e.Field != tt.wantField {
				t.Errorf("error %v: want InvalidArgument of field %q", e, tt.wantField)
			}
			if n := len(s.list()); n != 0 {
				t.Errorf("%d activities dispatched for a bad request, want none", n)
			}
		})
	}
}

func TestMethodWorkflowTypedError(t *testing.T) {
	env, _ := newEnv(t)
	env.ExecuteWorkflow("wftest.missing", json.RawMessage(`{"msg":"u-9"}`))
	e := typedError(t, env.GetWorkflowError())
	if e.Type != managers.NotFoundType || e.Message != "instance u-9 not found" {
		t.Errorf("error %#v, want NotFound of instance u-9", e)
	}
}

func TestMethodWorkflowTimeout(t *testing.T) {
	for _, tt := range []struct {
		timeout enumspb.TimeoutType
		want    string
	}{
		{enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, "wftest.echo: no service on task queue wftest.h1 took the call within 58s (is it down?)"},
		{enumspb.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE, "wftest.echo on task queue wftest.h1: no result within 58s"},
	} {
		t.Run(tt.timeout.String(), func(t *testing.T) {
			env, _ := newEnv(t)
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{WorkflowExecutionTimeout: time.Minute})
			env.OnActivity("wftest.echo", mock.Anything, mock.Anything, mock.Anything).Return(nil, temporal.NewTimeoutError(tt.timeout, nil))
			env.ExecuteWorkflow("wftest.echo", json.RawMessage(`{"msg":"x","host":"h1"}`))
			e := typedError(t, env.GetWorkflowError())
			if e.Type != managers.TimeoutType || e.Message != tt.want {
				t.Errorf("error %#v, want Timeout %q", e, tt.want)
			}
		})
	}
}

func TestMethodWorkflowRetriesUntypedErrors(t *testing.T) {
	env, s := newEnv(t)
	calls := 0
	env.OnActivity("wftest.echo", mock.Anything, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req json.RawMessage, call activities.CallInfo) (json.RawMessage, error) {
			calls++
			if calls < 3 {
				return nil, errors.New("connection reset")
			}
			return json.RawMessage(`{"msg":"third time"}`), nil
		})
	env.ExecuteWorkflow("wftest.echo", json.RawMessage(`{"msg":"x"}`))
	var got echoResp
	if err := env.GetWorkflowResult(&got); err != nil || got.Msg != "third time" {
		t.Fatalf("result %+v, %v; want the third attempt's", got, err)
	}
	if calls != 3 || len(s.list()) != 3 {
		t.Errorf("%d calls, %d starts; want 3", calls, len(s.list()))
	}
}

func TestMethodWorkflowVersions(t *testing.T) {
	tests := []struct {
		name, version string
		input         string
		wantType      string // "" for success
	}{
		{"own version", "1.2", `{"msg":"x"}`, ""},
		{"older minor", "1.0", `{"msg":"x"}`, ""},
		// Newer than this code: not validated here (the bogus field would
		// fail), left to the target, which refuses the version.
		{"newer minor", "1.3", `{"msg":"x","bogus":1}`, managers.UnsupportedVersionType},
		{"other major", "2.0", `{"msg":"x"}`, managers.UnsupportedVersionType},
		{"bad version", "v1", `{"msg":"x"}`, managers.InvalidArgumentType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, s := newEnv(t)
			if err := env.SetMemoOnStart(map[string]any{VersionMemo: tt.version}); err != nil {
				t.Fatal(err)
			}
			env.ExecuteWorkflow("wftest.echo", json.RawMessage(tt.input))
			if tt.wantType == "" {
				if err := env.GetWorkflowError(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if e := typedError(t, env.GetWorkflowError()); e.Type != tt.wantType {
				t.Errorf("error %v, want type %s", e, tt.wantType)
			}
			if tt.wantType == managers.InvalidArgumentType && len(s.list()) != 0 {
				t.Error("a bad version was dispatched")
			}
		})
	}
}

func TestMethodWorkflowSearchAttributes(t *testing.T) {
	t.Run("from the shell", func(t *testing.T) {
		env, _ := newEnv(t)
		env.OnUpsertTypedSearchAttributes(temporal.NewSearchAttributes(
			workflows.TopicKey.ValueSet(testTopic), workflows.HostKey.ValueSet("h1"), workflows.MethodKey.ValueSet("echo"), workflows.InstanceKey.ValueSet("u-1"),
		)).Return(nil).Once()
		env.ExecuteWorkflow("wftest.echo", json.RawMessage(`{"msg":"x","host":"h1","instance_uuid":"u-1"}`))
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		env.AssertExpectations(t)
	})
	t.Run("set at start", func(t *testing.T) {
		env, _ := newEnv(t)
		if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(
			workflows.TopicKey.ValueSet(testTopic), workflows.HostKey.ValueSet(AnyHost), workflows.MethodKey.ValueSet("echo"),
		)); err != nil {
			t.Fatal(err)
		}
		env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Maybe()
		env.ExecuteWorkflow("wftest.echo", json.RawMessage(`{"msg":"x"}`))
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		env.AssertNotCalled(t, "UpsertTypedSearchAttributes", mock.Anything)
	})
}

func TestFanout(t *testing.T) {
	env, s := newEnv(t)
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.UpHostsRequest) (workflows.UpHostsResult, error) {
		if req.Topic != testTopic {
			return workflows.UpHostsResult{}, errors.New("wrong topic")
		}
		return workflows.UpHostsResult{Hosts: []string{"h1", "h2", "h3"}}, nil
	}, activity.RegisterOptions{Name: workflows.UpHostsName})
	env.OnActivity("wftest.where", mock.Anything, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req json.RawMessage, call activities.CallInfo) (json.RawMessage, error) {
			switch activity.GetInfo(ctx).TaskQueue {
			case "wftest.h2":
				return nil, activities.ToApplicationError(managers.Unavailable("h2 is busy"))
			case "wftest.h3":
				return nil, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil)
			}
			return activities.Method(method(t, "where"))(ctx, req, call)
		})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{WorkflowExecutionTimeout: time.Minute})
	env.ExecuteWorkflow("wftest.where", json.RawMessage(`{"host":"*"}`))
	var got fanoutResult
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.Hosts) != 3 {
		t.Fatalf("result %+v: want 3 hosts", got)
	}
	if h := got.Hosts[0]; h.Host != "h1" || string(h.Result) != `{"host":"h1"}` || h.Error != nil {
		t.Errorf("h1: %+v, want result {\"host\":\"h1\"}", h)
	}
	if h := got.Hosts[1]; h.Host != "h2" || h.Error == nil || h.Error.Type != managers.UnavailableType {
		t.Errorf("h2: %+v, want Unavailable", h)
	}
	if h := got.Hosts[2]; h.Host != "h3" || h.Error == nil || h.Error.Type != managers.TimeoutType {
		t.Errorf("h3: %+v, want Timeout", h)
	}
	queues := map[string]time.Duration{}
	for _, a := range s.list() {
		if a.ActivityType.Name == "wftest.where" {
			queues[a.TaskQueue] = a.ScheduleToCloseTimeout
		}
	}
	if len(queues) != 3 {
		t.Errorf("method ran on %v; want the three host queues", queues)
	}
}

// TestFanoutHostErrorTypes: a host's failure in a fanout's result carries
// its kind, as activities.ErrorType says it on the host (the method's
// activity gives it as its error's type): a typed error's Type and Field,
// Timeout for a deadline that passed, the Go type of an error that has one
// (*fs.PathError), and Error for a plain message, as for one from a host of
// an earlier release, where the SDK names the bare Go type (wrapError), and
// for a Temporal error without a type.
func TestFanoutHostErrorTypes(t *testing.T) {
	env, _ := newEnv(t)
	errs := map[string]error{
		"h1": &fs.PathError{Op: "open", Path: "/var/lib/novaflow/x", Err: fs.ErrNotExist},
		"h2": fmt.Errorf("query: %w", context.DeadlineExceeded),
		"h3": errors.New("disk full"),
		"h4": managers.InvalidArgument("x", "bad"),
		"h5": temporal.NewApplicationError("connection reset", "wrapError"),
		"h6": temporal.NewNonRetryableApplicationError("boom", "", nil),
	}
	hosts := slices.Sorted(maps.Keys(errs))
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.UpHostsRequest) (workflows.UpHostsResult, error) {
		return workflows.UpHostsResult{Hosts: hosts}, nil
	}, activity.RegisterOptions{Name: workflows.UpHostsName})
	env.OnActivity("wftest.where", mock.Anything, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req json.RawMessage, call activities.CallInfo) (json.RawMessage, error) {
			err := errs[strings.TrimPrefix(activity.GetInfo(ctx).TaskQueue, "wftest.")]
			return activities.Method(managers.NewMethod("where", "1.0", func(context.Context, hostReq) (hostReq, error) {
				return hostReq{}, err
			}))(ctx, req, call)
		})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{WorkflowExecutionTimeout: time.Minute})
	env.ExecuteWorkflow("wftest.where", json.RawMessage(`{"host":"*"}`))
	var got fanoutResult
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string]workflows.HostError{
		"h1": {Type: "*fs.PathError", Message: "open /var/lib/novaflow/x: file does not exist"},
		"h2": {Type: managers.TimeoutType, Message: "query: context deadline exceeded"},
		"h3": {Type: workflows.UntypedError, Message: "disk full"},
		"h4": {Type: managers.InvalidArgumentType, Field: "x", Message: "bad"},
		"h5": {Type: workflows.UntypedError, Message: "connection reset"},
		"h6": {Type: workflows.UntypedError, Message: "boom"},
	}
	if len(got.Hosts) != len(hosts) {
		t.Fatalf("result %+v: want %d hosts", got, len(hosts))
	}
	for _, h := range got.Hosts {
		if h.Error == nil || *h.Error != want[h.Host] {
			t.Errorf("%s: error %+v, want %+v", h.Host, h.Error, want[h.Host])
		}
	}
}

func TestFanoutValidatesBeforeDispatch(t *testing.T) {
	env, s := newEnv(t)
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.UpHostsRequest) (workflows.UpHostsResult, error) {
		return workflows.UpHostsResult{Hosts: []string{"h1"}}, nil
	}, activity.RegisterOptions{Name: workflows.UpHostsName})
	env.ExecuteWorkflow("wftest.echo", json.RawMessage(`{"host":"*","msg":3}`))
	if e := typedError(t, env.GetWorkflowError()); e.Type != managers.InvalidArgumentType || e.Field != "msg" {
		t.Errorf("error %v, want InvalidArgument of msg", e)
	}
	if n := len(s.list()); n != 0 {
		t.Errorf("%d activities dispatched, want none", n)
	}
}

func TestWithHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{}`, `{"host":"h1"}`},
		{`{"b":1,"a":2}`, `{"a":2,"b":1,"host":"h1"}`},
		{`{"host":"x"}`, `{"host":"h1"}`},
		{`null`, `{"host":"h1"}`},
		{`[1]`, `[1]`},
	}
	for _, tt := range tests {
		if got := string(withHost(json.RawMessage(tt.in), "h1")); got != tt.want {
			t.Errorf("withHost(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
