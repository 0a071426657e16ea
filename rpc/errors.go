package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
)

// ErrTimeout is matched, with errors.Is, by the error of every call that got
// no result within its timeout, whatever the reason: a dead target host, a
// method slower than the timeout, or retries of a failing method that ran out
// of time. Whether the method ran is unknown (nova's MessagingTimeout). Such
// errors are *managers.Error of type Timeout.
var ErrTimeout error = &managers.Error{Type: managers.TimeoutType, Message: "no result within the timeout"}

// IsTimeout reports whether err is a call's timeout (errors.Is(err, ErrTimeout)).
func IsTimeout(err error) bool { return errors.Is(err, ErrTimeout) }

// timeoutf returns a Timeout error.
func timeoutf(format string, args ...any) error {
	return &managers.Error{Type: managers.TimeoutType, Message: fmt.Sprintf(format, args...)}
}

// executionError turns the error of waiting for an RPC execution into the
// call's error: the remote method's typed error as *managers.Error, a timeout
// (of the execution, or of the wait) as a Timeout error, anything else
// wrapped with what was called.
func executionError(t target, timeout time.Duration, waitCtx context.Context, err error) error {
	// The wait's deadline may show as the gRPC status DeadlineExceeded a
	// moment before waitCtx itself is done.
	var te *temporal.TimeoutError
	var de *serviceerror.DeadlineExceeded
	if errors.As(err, &te) || errors.As(err, &de) || errors.Is(err, context.DeadlineExceeded) || errors.Is(waitCtx.Err(), context.DeadlineExceeded) {
		return timeoutf("%s on task queue %s: no result within %s", t.Name(), t.Queue(), timeout)
	}
	if e, ok := managers.AsError(activities.FromApplicationError(err)); ok {
		return e
	}
	return fmt.Errorf("call %s on task queue %s: %w", t.Name(), t.Queue(), err)
}
