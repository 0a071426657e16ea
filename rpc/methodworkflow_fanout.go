package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/workflows"
)

// fanoutResult is the result of a fanout: one entry per host the call was
// sent to, in host order.
type fanoutResult struct {
	Hosts []fanoutHost `json:"hosts"`
}

// fanoutHost is one host's outcome in a fanout: its JSON result, or its
// error.
type fanoutHost struct {
	Host   string               `json:"host"`
	Result json.RawMessage      `json:"result,omitempty"`
	Error  *workflows.HostError `json:"error,omitempty"`
}

// fanout runs the call on every up host of the topic, at once, disabled
// hosts included (nova's fanout cast reaches every consumer of the topic:
// disabling a service keeps new work from being scheduled to it, not its
// messages from arriving), and returns each host's result or error. The
// hosts come from the services table through activity workflows.UpHostsName
// on the topic's shared queue.
// Each host's request is req with "host" set to the host; check, when
// set, validates each of them before any is dispatched. Each host must take
// its call within FanoutHostStartTimeout, so a host that went down since its
// last report gets a Timeout error instead of holding up the fanout.
func fanout(ctx workflow.Context, t target, req json.RawMessage, deadline time.Time, check func(req json.RawMessage) error) (fanoutResult, error) {
	b := budget(workflow.Now(ctx), deadline)
	if b <= 0 {
		return fanoutResult{}, timeoutError("%s: the deadline passed before the fanout listed its hosts", t.Name())
	}
	lctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              t.Topic,
		ScheduleToStartTimeout: b,
		ScheduleToCloseTimeout: b,
		RetryPolicy:            retryPolicy(),
	})
	var up workflows.UpHostsResult
	if err := workflow.ExecuteActivity(lctx, workflows.UpHostsName, workflows.UpHostsRequest{Topic: t.Topic, IncludeDisabled: true}).Get(ctx, &up); err != nil {
		return fanoutResult{}, callError(workflows.UpHostsName, t.Topic, b, b, err)
	}

	reqs := make([]json.RawMessage, len(up.Hosts))
	for i, h := range up.Hosts {
		reqs[i] = withHost(req, h)
		if check != nil {
			if err := check(reqs[i]); err != nil {
				return fanoutResult{}, activities.ToApplicationError(fmt.Errorf("request for host %s: %w", h, err))
			}
		}
	}

	b = budget(workflow.Now(ctx), deadline)
	if b <= 0 {
		return fanoutResult{}, timeoutError("%s: the deadline passed before the fanout dispatched its calls", t.Name())
	}
	futures := make([]workflow.Future, len(up.Hosts))
	for i, h := range up.Hosts {
		ht := t
		ht.Host = h
		actx := workflow.WithActivityOptions(ctx, activityOptions(ht.Queue(), min(FanoutHostStartTimeout, b), b))
		futures[i] = workflow.ExecuteActivity(actx, ht.Name(), reqs[i], activities.CallInfo{Version: t.Version})
	}
	out := fanoutResult{Hosts: make([]fanoutHost, len(up.Hosts))}
	for i, h := range up.Hosts {
		out.Hosts[i].Host = h
		var res json.RawMessage
		err := futures[i].Get(ctx, &res)
		if err == nil {
			out.Hosts[i].Result = res
			continue
		}
		if ctx.Err() != nil {
			return fanoutResult{}, err
		}
		ht := t
		ht.Host = h
		if failed := lastFailure(err); failed != nil {
			// The host answered every try with a failure until the
			// deadline: that is its outcome, not a Timeout (which says
			// the host did not take or finish the call in time).
			he := hostError(failed)
			he.Message += fmt.Sprintf(" (its last failure: the call was tried again until its deadline, %s)", roundDuration(b))
			out.Hosts[i].Error = he
			continue
		}
		out.Hosts[i].Error = hostError(callError(ht.Name(), ht.Queue(), min(FanoutHostStartTimeout, b), b, err))
	}
	return out, nil
}

// lastFailure is the failure a retried activity last ended with when its
// retries ran out of time (retry state Timeout) after a failure rather than
// a timeout; nil otherwise.
func lastFailure(err error) error {
	var ae *temporal.ActivityError
	if !errors.As(err, &ae) || ae.RetryState() != enumspb.RETRY_STATE_TIMEOUT {
		return nil
	}
	cause := errors.Unwrap(ae)
	var te *temporal.TimeoutError
	if cause == nil || errors.As(cause, &te) {
		return nil
	}
	return cause
}

// hostError describes a host's failure in a fanout (from callError, or
// the last failure of a host that failed until the deadline): a typed
// error's Type and Field (Timeout for a host that did not take or finish
// the call in time); Canceled; else the type the host's activity gave its
// error, activities.ErrorType's (the Go type, such as *fs.PathError, see
// activities.Method); workflows.UntypedError when it has none, and for the
// bare Go names the SDK gives a plain message or a wrapper (a host of an
// earlier release).
func hostError(err error) *workflows.HostError {
	if e, ok := managers.AsError(activities.FromApplicationError(err)); ok {
		return &workflows.HostError{Type: e.Type, Field: e.Field, Message: e.Message}
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return &workflows.HostError{Type: canceledType, Message: err.Error()}
	}
	out := &workflows.HostError{Type: appErrorType(err), Message: err.Error()}
	if out.Type == "" {
		out.Type = workflows.UntypedError
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		out.Message = appErr.Message() // not the activity error's wrapping
	}
	return out
}

// canceledType is the type of a host's call that was cancelled, as
// activities.ErrorType names a cancelled context.
const canceledType = "Canceled"

// appErrorType is the type of an untyped activity failure: the type of its
// application error; "" when it has none worth showing (none, or the bare
// Go name the SDK gives a plain message or a wrapper).
func appErrorType(err error) string {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return ""
	}
	switch t := appErr.Type(); t {
	case "errorString", "wrapError", "wrapErrors", "joinError", workflows.UntypedError:
		return ""
	default:
		return t
	}
}
