package managers

import "context"

type callIDKey struct{}

// WithCallID returns ctx carrying id, the identity of one call of a method:
// the same in every retry of that call, different for another call. The
// runtime sets it (activities.Method: the activity's workflow, run and
// activity IDs), so that a method can make what it writes for a call
// idempotent, such as a default request id.
func WithCallID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, callIDKey{}, id)
}

// CallID returns the identity of the call ctx belongs to (WithCallID), or ""
// outside a call, as when a test calls a manager directly.
func CallID(ctx context.Context) string {
	id, _ := ctx.Value(callIDKey{}).(string)
	return id
}
