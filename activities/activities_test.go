package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/managers"
)

type sleepReq struct {
	For string `json:"for"`
}

var sleepy = managers.NewMethod("sleep", "1.1", func(ctx context.Context, req sleepReq) (string, error) {
	d, err := time.ParseDuration(req.For)
	if err != nil {
		return "", managers.InvalidArgument("for", "%v", err)
	}
	select {
	case <-time.After(d):
		return "slept " + req.For, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
})

func TestMethodChecksVersion(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	tests := []struct {
		version string
		ok      bool
	}{{"", true}, {"1.0", true}, {"1.1", true}, {"1.2", false}, {"2.0", false}}
	for _, tt := range tests {
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivityWithOptions(Method(sleepy), activity.RegisterOptions{Name: "t.sleep"})
		_, err := env.ExecuteActivity("t.sleep", json.RawMessage(`{"for":"1ms"}`), CallInfo{Version: tt.version})
		if tt.ok != (err == nil) {
			t.Errorf("version %q: %v, want ok=%v", tt.version, err, tt.ok)
		}
		if err == nil {
			continue
		}
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != managers.UnsupportedVersionType || !appErr.NonRetryable() {
			t.Errorf("version %q: %v, want a non-retryable UnsupportedVersion", tt.version, err)
		}
	}
	// Callers that pass only the request are at the method's version.
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(Method(sleepy), activity.RegisterOptions{Name: "t.sleep"})
	if _, err := env.ExecuteActivity("t.sleep", json.RawMessage(`{"for":"1ms"}`)); err != nil {
		t.Errorf("without CallInfo: %v", err)
	}
}

type tagReq struct {
	Name string `json:"name"`
	// Tag was added in 1.1.
	Tag string `json:"tag,omitempty" since:"1.1"`
}

var tagged = managers.NewMethod("tag", "1.1", func(ctx context.Context, req tagReq) (string, error) {
	return req.Name + "/" + req.Tag, nil
})

// TestMethodRefusesNewerFields: a request stamped with an older version
// that sets a field added since is refused by the callee, with a
// non-retryable InvalidArgument naming the field and both versions; the
// same request at the field's version, or stamped older without the field,
// is served.
func TestMethodRefusesNewerFields(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	run := func(req, version string) (string, error) {
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivityWithOptions(Method(tagged), activity.RegisterOptions{Name: "t.tag"})
		v, err := env.ExecuteActivity("t.tag", json.RawMessage(req), CallInfo{Version: version})
		if err != nil {
			return "", err
		}
		var raw json.RawMessage
		if err := v.Get(&raw); err != nil {
			return "", err
		}
		var out string
		err = json.Unmarshal(raw, &out)
		return out, err
	}
	_, err := run(`{"name":"a","tag":"x"}`, "1.0")
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != managers.InvalidArgumentType || !appErr.NonRetryable() {
		t.Fatalf("tag set at 1.0: %v, want a non-retryable InvalidArgument", err)
	}
	e, ok := managers.AsError(FromApplicationError(err))
	if !ok || e.Field != "tag" {
		t.Fatalf("tag set at 1.0: %v, want field tag", err)
	}
	for _, w := range []string{"1.1", "1.0", "tag"} {
		if !strings.Contains(e.Error(), w) {
			t.Errorf("%q does not say %q", e.Error(), w)
		}
	}
	for _, c := range []struct{ req, version, want string }{
		{`{"name":"a","tag":"x"}`, "1.1", "a/x"},
		{`{"name":"a","tag":"x"}`, "", "a/x"},
		{`{"name":"a"}`, "1.0", "a/"},
		{`{"name":"a","tag":""}`, "1.0", "a/"},
	} {
		if got, err := run(c.req, c.version); err != nil || got != c.want {
			t.Errorf("%s at %q: %q, %v; want %q", c.req, c.version, got, err, c.want)
		}
	}
}

func TestMethodHeartbeats(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(Method(sleepy), activity.RegisterOptions{Name: "t.sleep"})
	var beats atomic.Int32
	env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { beats.Add(1) })
	env.ExecuteWorkflow(func(ctx workflow.Context) (string, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 10 * time.Second,
			HeartbeatTimeout:    300 * time.Millisecond,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		var out string
		err := workflow.ExecuteActivity(ctx, "t.sleep", json.RawMessage(`{"for":"1s"}`)).Get(ctx, &out)
		return out, err
	})
	var out string
	if err := env.GetWorkflowResult(&out); err != nil || out != "slept 1s" {
		t.Fatalf("a 1s method with a 300ms heartbeat timeout: %q, %v", out, err)
	}
	if n := beats.Load(); n < 3 {
		t.Errorf("%d heartbeats in 1s, want one every 100ms", n)
	}
}

func TestApplicationErrorRoundTrip(t *testing.T) {
	for _, e := range []*managers.Error{
		managers.InvalidArgument("flavor", "no such flavor %q", "m1.huge"),
		managers.NotFound("instance", "u-1"),
		managers.Unavailable("busy"),
		{Type: "QuotaExceeded", Message: "too many"},
	} {
		appErr := ToApplicationError(fmt.Errorf("reboot: %w", e))
		var ae *temporal.ApplicationError
		if !errors.As(appErr, &ae) || ae.NonRetryable() == e.Retryable() {
			t.Errorf("%v: application error %v has the wrong retryability", e, appErr)
		}
		got, ok := managers.AsError(FromApplicationError(fmt.Errorf("activity failed: %w", appErr)))
		if !ok || *got != *e {
			t.Errorf("round trip of %#v gave %#v", e, got)
		}
	}
	// The SDK makes plain Go errors retryable application errors typed by
	// their Go type: those are not typed errors.
	plain := temporal.NewApplicationError("connection reset", "wrapError")
	if got := FromApplicationError(plain); got != plain {
		t.Errorf("FromApplicationError(plain) = %v", got)
	}
	// A non-retryable application error with a type is typed, details or not.
	bare := temporal.NewNonRetryableApplicationError("bad input", managers.InvalidArgumentType, nil)
	if got, ok := managers.AsError(FromApplicationError(bare)); !ok || got.Type != managers.InvalidArgumentType || got.Message != "bad input" {
		t.Errorf("FromApplicationError(bare) = %v", got)
	}
}

// ErrorType names a failure's kind: a typed error's Type and Field, a
// deadline or a cancellation, or the first Go type in the chain that is
// more than a message or a wrapper.
func TestErrorType(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		typ, field string
	}{
		{"typed", fmt.Errorf("sync: %w", managers.InvalidArgument("flavor", "bad")), managers.InvalidArgumentType, "flavor"},
		{"deadline", fmt.Errorf("list: %w", context.DeadlineExceeded), managers.TimeoutType, ""},
		{"canceled", context.Canceled, "Canceled", ""},
		{"Go type", fmt.Errorf("a: %w", fmt.Errorf("b: %w", &json.SyntaxError{})), "*json.SyntaxError", ""},
		{"message", fmt.Errorf("a: %w", errors.New("boom")), "Error", ""},
		{"joined", errors.Join(errors.New("x"), errors.New("y")), "Error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if typ, field := ErrorType(tt.err); typ != tt.typ || field != tt.field {
				t.Errorf("ErrorType(%v) = %q, %q; want %q, %q", tt.err, typ, field, tt.typ, tt.field)
			}
		})
	}
}

// TestMethodErrorTypes: a method's untyped error leaves its activity as a
// retryable application error typed by ErrorType (the SDK would name only
// the bare Go type), which FromApplicationError still leaves untyped; a
// typed error, a Temporal error and a cancellation leave as they were.
func TestMethodErrorTypes(t *testing.T) {
	syntaxErr := &json.SyntaxError{}
	canceled := temporal.NewCanceledError()
	nonRetryable := temporal.NewNonRetryableApplicationError("boom", "", nil)
	tests := []struct {
		name string
		err  error
		typ  string // of the application error; "": err itself comes back
	}{
		{"Go type", fmt.Errorf("read config: %w", syntaxErr), "*json.SyntaxError"},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), managers.TimeoutType},
		{"message", errors.New("disk full"), "Error"},
		{"typed", managers.Conflict("busy"), managers.ConflictType},
		{"Temporal error", nonRetryable, ""},
		{"Temporal cancellation", canceled, ""},
		{"context cancellation", fmt.Errorf("wait: %w", context.Canceled), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := managers.NewMethod("fail", "1.0", func(context.Context, sleepReq) (sleepReq, error) { return sleepReq{}, tt.err })
			_, err := Method(m)(context.Background(), json.RawMessage(`{}`), CallInfo{})
			if tt.typ == "" {
				if err != tt.err {
					t.Errorf("error %#v, want %#v as it was", err, tt.err)
				}
				return
			}
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != tt.typ {
				t.Fatalf("error %#v, want an application error of type %s", err, tt.typ)
			}
			if _, typed := managers.AsError(FromApplicationError(err)); tt.typ != managers.ConflictType &&
				(appErr.NonRetryable() || appErr.Message() != tt.err.Error() || typed) {
				t.Errorf("error %#v: want a retryable, untyped one with the method's message", err)
			}
		})
	}
}
