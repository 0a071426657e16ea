package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/managers"
)

// Registry is the part of a Temporal worker that activities are registered on.
type Registry interface {
	RegisterActivityWithOptions(a interface{}, options activity.RegisterOptions)
}

// Name is the activity (and workflow type) name of a topic's method:
// <topic>.<method>, e.g. compute.reboot_instance.
func Name(topic, method string) string { return topic + "." + method }

// RegisterMethods registers each method as activity <topic>.<method> on r.
func RegisterMethods(r Registry, topic string, methods []managers.Method) {
	for _, m := range methods {
		r.RegisterActivityWithOptions(Method(m), activity.RegisterOptions{Name: Name(topic, m.Name)})
	}
}

// CallInfo is what an RPC call carries to the method's activity besides its
// request: the activity's optional second argument.
type CallInfo struct {
	// Version is the version ("major.minor") the caller wrote the request
	// for; empty means the method's own version.
	Version string `json:"version,omitempty"`
}

// Method returns the activity function that runs m: it checks that m serves
// the call's version and that the request sets no field added after it
// (managers.Method.CheckSince), decodes the JSON request strictly, runs the method and
// encodes its result, turning errors into Temporal application errors with
// ToApplicationError. While the method runs, the activity heartbeats when
// its options ask for heartbeats, so that a host that dies mid-call is
// noticed within the heartbeat timeout rather than the whole deadline.
//
// The second argument is optional: a caller that passes only the request
// gets the method's own version. The method's context carries the call's
// identity (managers.CallID): the activity's workflow, run and activity
// IDs, the same in each of its retries; and the call's version
// (managers.CallVersion).
func Method(m managers.Method) func(ctx context.Context, req json.RawMessage, call CallInfo) (json.RawMessage, error) {
	return func(ctx context.Context, req json.RawMessage, call CallInfo) (json.RawMessage, error) {
		if err := m.Supports(call.Version); err != nil {
			return nil, ToApplicationError(err)
		}
		// The request is read as what its version has: a field added
		// since, set, is refused (the caller's stamp is not trusted).
		if err := m.CheckSince(req, call.Version); err != nil {
			return nil, ToApplicationError(err)
		}
		if activity.IsActivity(ctx) {
			info := activity.GetInfo(ctx)
			ctx = managers.WithCallID(ctx, info.WorkflowExecution.ID+"/"+info.WorkflowExecution.RunID+"/"+info.ActivityID)
		}
		if call.Version != "" {
			ctx = managers.WithCallVersion(ctx, call.Version)
		}
		defer heartbeat(ctx)()
		out, err := m.Call(ctx, req)
		if err != nil {
			return nil, methodError(err)
		}
		return out, nil
	}
}

// methodError is a method's error as its activity returns it: a typed one
// as ToApplicationError makes it; any other, unless it is already a
// Temporal error or a cancellation (which the SDK reports as such), as a
// retryable application error whose type is ErrorType's (the Go type such
// as *fs.PathError, Timeout, or UntypedError for a plain message), where
// the SDK would name only the bare Go type (PathError, wrapError), so that
// the caller's results (a fanout's hosts) and the failure in the Web UI say
// what kind of failure it was. It stays retryable and has no details, so
// FromApplicationError still leaves it untyped.
func methodError(err error) error {
	if _, ok := managers.AsError(err); ok {
		return ToApplicationError(err)
	}
	var appErr *temporal.ApplicationError
	var canceled *temporal.CanceledError
	if errors.As(err, &appErr) || errors.As(err, &canceled) || errors.Is(err, context.Canceled) {
		return err
	}
	typ, _ := ErrorType(err)
	return temporal.NewApplicationError(err.Error(), typ)
}

// heartbeat records a heartbeat every third of the activity's heartbeat
// timeout until the returned stop is called. It does nothing outside an
// activity or without a heartbeat timeout.
func heartbeat(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	timeout := activity.GetInfo(ctx).HeartbeatTimeout
	if timeout <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(max(timeout/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// ToApplicationError turns a *managers.Error in err's chain into a Temporal
// application error whose type is the error's Type and whose details carry
// the field, so the caller can rebuild it with FromApplicationError. Every
// type but Unavailable is non-retryable. Other errors pass through unchanged
// (retryable, as any unexpected failure).
func ToApplicationError(err error) error {
	e, ok := managers.AsError(err)
	if !ok {
		return err
	}
	// A message that quotes a huge request would make a failure too big for
	// Temporal (and for a person): keep its start.
	if len(e.Message) > MaxMessageLen {
		e = &managers.Error{Type: e.Type, Field: e.Field,
			Message: strings.ToValidUTF8(e.Message[:MaxMessageLen], "") + fmt.Sprintf("… (%d bytes)", len(e.Message))}
		err = e
	}
	return temporal.NewApplicationErrorWithOptions(e.Error(), e.Type, temporal.ApplicationErrorOptions{
		NonRetryable: !e.Retryable(),
		Cause:        err,
		Details:      []interface{}{Detail{Field: e.Field, Message: e.Message}},
	})
}

// MaxMessageLen bounds the message of a typed error that crosses the RPC
// boundary; ToApplicationError cuts longer ones.
const MaxMessageLen = 4096

// Detail is the payload of a typed application error.
type Detail struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// FromApplicationError rebuilds the *managers.Error that ToApplicationError
// sent, from anywhere in err's chain (a workflow or activity error wraps it).
// A typed application error is one with a type that carries a Detail, or a
// non-retryable one with a type (as temporal.NewNonRetryableApplicationError
// makes). Other errors come back unchanged: in particular the retryable
// application errors the SDK makes of plain Go errors, whose type is only
// the Go type's name.
func FromApplicationError(err error) error {
	var appErr *temporal.ApplicationError
	if err == nil || !errors.As(err, &appErr) || appErr.Type() == "" {
		return err
	}
	var d Detail
	hasDetail := appErr.HasDetails() && appErr.Details(&d) == nil
	if !hasDetail && !appErr.NonRetryable() {
		return err
	}
	out := &managers.Error{Type: appErr.Type(), Message: appErr.Message()}
	if hasDetail {
		out.Field, out.Message = d.Field, d.Message
	}
	return out
}
