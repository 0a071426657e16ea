package activities

import (
	"context"
	"encoding/json"
	"errors"

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

// Method returns the activity function that runs m: it decodes the JSON
// request strictly, runs the method and encodes its result, turning errors
// into Temporal application errors with ToApplicationError.
func Method(m managers.Method) func(ctx context.Context, req json.RawMessage) (json.RawMessage, error) {
	return func(ctx context.Context, req json.RawMessage) (json.RawMessage, error) {
		out, err := m.Call(ctx, req)
		if err != nil {
			return nil, ToApplicationError(err)
		}
		return out, nil
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
	return temporal.NewApplicationErrorWithOptions(e.Error(), e.Type, temporal.ApplicationErrorOptions{
		NonRetryable: !e.Retryable(),
		Cause:        err,
		Details:      []interface{}{Detail{Field: e.Field, Message: e.Message}},
	})
}

// Detail is the payload of a typed application error.
type Detail struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// FromApplicationError rebuilds the *managers.Error that ToApplicationError
// sent, from anywhere in err's chain (a workflow or activity error wraps it).
// Errors that carry no typed application error come back unchanged.
func FromApplicationError(err error) error {
	var appErr *temporal.ApplicationError
	if err == nil || !errors.As(err, &appErr) || appErr.Type() == "" {
		return err
	}
	out := &managers.Error{Type: appErr.Type(), Message: appErr.Message()}
	var d Detail
	if appErr.HasDetails() && appErr.Details(&d) == nil {
		out.Field, out.Message = d.Field, d.Message
	}
	return out
}
