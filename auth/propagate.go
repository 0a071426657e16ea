package auth

import (
	"context"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// HeaderKey is the Temporal header that carries a call's token.
const HeaderKey = "novaflow-token"

// MemoKey is the memo field that carries the token of an execution started
// where no header can be set (the temporal CLI): --memo 'NovaflowToken="<token>"'.
const MemoKey = "NovaflowToken"

// Propagator carries tokens in HeaderKey: from a context.Context with a
// token (WithToken), else the Default token, into the executions a client
// starts; from an execution into its workflow's context and from there into
// every activity, child workflow and call it makes; and from a header into
// an activity's context, so that calls an activity makes present it too.
type Propagator struct {
	// Default, when set, returns the token of calls whose context has none:
	// a command's NOVAFLOW_TOKEN, a service's own token.
	Default func() string
}

var _ workflow.ContextPropagator = Propagator{}

type wfTokenKey struct{}

// Inject puts ctx's token (or the default) in the header.
func (p Propagator) Inject(ctx context.Context, w workflow.HeaderWriter) error {
	tok := TokenFrom(ctx)
	if tok == "" && ctx.Value(noTokenKey{}) != nil {
		return nil
	}
	if tok == "" && p.Default != nil {
		tok = p.Default()
	}
	return set(w, tok)
}

type noTokenKey struct{}

// WithoutToken returns ctx whose executions carry no token, not even the
// Propagator's Default: the service creates its schedules with it, since a
// schedule keeps its action's header (readable, and expiring with the
// token) for every run it starts; the framework's runs that a schedule
// starts need none (Enforcer).
func WithoutToken(ctx context.Context) context.Context {
	return context.WithValue(WithToken(ctx, ""), noTokenKey{}, true)
}

// Extract reads the header's token into ctx (an activity's context).
func (p Propagator) Extract(ctx context.Context, r workflow.HeaderReader) (context.Context, error) {
	tok, err := get(r)
	if err != nil || tok == "" {
		return ctx, err
	}
	return WithToken(ctx, tok), nil
}

// InjectFromWorkflow puts the workflow's token in the header of what it
// starts.
func (p Propagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	tok, _ := ctx.Value(wfTokenKey{}).(string)
	return set(w, tok)
}

// ExtractToWorkflow reads the header's token into the workflow's context.
func (p Propagator) ExtractToWorkflow(ctx workflow.Context, r workflow.HeaderReader) (workflow.Context, error) {
	tok, err := get(r)
	if err != nil || tok == "" {
		return ctx, err
	}
	return workflow.WithValue(ctx, wfTokenKey{}, tok), nil
}

// WorkflowToken returns the token of the workflow's caller, "" when none.
func WorkflowToken(ctx workflow.Context) string {
	tok, _ := ctx.Value(wfTokenKey{}).(string)
	return tok
}

func set(w workflow.HeaderWriter, tok string) error {
	if tok == "" {
		return nil
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(tok)
	if err != nil {
		return err
	}
	w.Set(HeaderKey, p)
	return nil
}

func get(r workflow.HeaderReader) (string, error) {
	p, ok := r.Get(HeaderKey)
	if !ok {
		return "", nil
	}
	var tok string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &tok); err != nil {
		return "", err
	}
	return tok, nil
}
