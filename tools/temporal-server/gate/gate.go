// Package gate is novaflow's front door in the Temporal server it builds
// (cmd/novaflow-temporal-server): a frontend gRPC interceptor that verifies
// the bearer token of a call (the temporal CLI's --api-key, or --grpc-meta
// authorization="Bearer ..."), refuses a workflow start whose novaflow
// method's rule no owner could make pass for the caller, and hands the
// verified caller to the services by writing its token into the start's
// header novaflow-token when the client put none there (a token already in
// the header is the caller the client starts for, as when a service starts
// a call on a member's behalf over a connection whose API key is its own),
// where the services' worker check (auth.Enforcer) reads it. The worker check stays the enforcement that always holds (the
// owner of the object, calls made inside workflows, Temporal Cloud); the
// gate refuses what it can before anything is recorded. See
// docs/security.md.
package gate

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/codec"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/policy"
)

// Gate is the interceptor. Build it with New (or FromEnv).
type Gate struct {
	verifier *auth.Verifier
	policy   *policy.Policy
	codec    *codec.Codec // nil: the stamped header is plain
	methods  map[string]managers.Method
	logf     func(msg string, kv ...string)
}

// Options configure a Gate.
type Options struct {
	Verifier *auth.Verifier
	// Policy is the policy of the services (NOVAFLOW_AUTH_POLICY_FILE over
	// the defaults); nil: the defaults.
	Policy *policy.Policy
	// Codec, when set, encrypts the token the gate writes into a start's
	// header, as an SDK client with NOVAFLOW_PAYLOAD_KEYS_FILE does.
	Codec *codec.Codec
	// Methods are the methods whose default rule the gate knows, by
	// workflow type (<topic>.<method>); nil: Methods().
	Methods map[string]managers.Method
	// Logf is told of each refusal (a message and key/value pairs); nil:
	// nothing.
	Logf func(msg string, kv ...string)
}

// New returns the gate of opts.
func New(opts Options) *Gate {
	g := &Gate{verifier: opts.Verifier, policy: opts.Policy, codec: opts.Codec, methods: opts.Methods, logf: opts.Logf}
	if g.policy == nil {
		g.policy = policy.Default()
	}
	if g.methods == nil {
		g.methods = Methods()
	}
	if g.logf == nil {
		g.logf = func(string, ...string) {}
	}
	return g
}

//go:embed methods.json
var methodsJSON []byte

// MethodEntry is a method of the reference control plane as methods.json
// lists it: what its default rule derives from (managers.Method's Access
// and Object).
type MethodEntry struct {
	Access string `json:"access,omitempty"`
	Object string `json:"object,omitempty"`
}

// Methods are the methods of novaflow's reference control plane (compute,
// conductor, scheduler, volume) by workflow type, from methods.json, which
// a test of cmd/novaflow keeps equal to the managers' RPCMethods. The server
// does not import the managers themselves: their code needs a newer Temporal
// SDK than this server builds with.
func Methods() map[string]managers.Method {
	var entries map[string]MethodEntry
	if err := json.Unmarshal(methodsJSON, &entries); err != nil {
		panic(fmt.Sprintf("gate: methods.json: %v", err)) // embedded, checked by a test
	}
	out := make(map[string]managers.Method, len(entries))
	for typ, e := range entries {
		_, name, _ := strings.Cut(typ, ".")
		out[typ] = managers.Method{Name: name, Object: e.Object, Access: managers.Access(e.Access)}
	}
	return out
}

// Intercept is the grpc.UnaryServerInterceptor of the frontend
// (temporal.WithChainedFrontendGrpcInterceptors).
func (g *Gate) Intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	tok, err := bearer(ctx)
	if err != nil {
		g.logf("novaflow gate: authorization refused", "api", info.FullMethod, "error", err.Error())
		return nil, status.Error(codes.Unauthenticated, "novaflow: "+err.Error())
	}
	if tok == "" {
		// No bearer: the call proceeds as on the stock server (the
		// server's own calls, SDK clients carrying the token in the
		// workflow header); the services' check still holds.
		return handler(ctx, req)
	}
	creds, err := g.verifier.Verify(tok)
	if err != nil {
		msg := err.Error()
		if me, ok := managers.AsError(err); ok {
			msg = me.Message
		}
		g.logf("novaflow gate: bearer token refused", "api", info.FullMethod, "error", msg)
		return nil, status.Error(codes.Unauthenticated, "novaflow: the authorization bearer token is refused: "+msg)
	}
	creds.Admin = g.policy.Check(policy.AdminRule, creds, nil).Allowed
	for _, s := range starts(req) {
		if err := g.decide(s, creds, info.FullMethod); err != nil {
			return nil, err
		}
		if s.header != nil {
			// A token already in the header is left as is: it is whom
			// the client starts for (a service's call on a member's
			// behalf, its connection's API key being its own token), and
			// the services verify it. Replacing it would run the call as
			// the bearer's caller.
			if err := g.stamp(s.header(), tok); err != nil {
				return nil, err
			}
		}
	}
	return handler(ctx, req)
}

// bearer returns the token of the call's "authorization: Bearer <token>"
// metadata (RFC 6750: the scheme in any case, one or more spaces, a
// b64token), "" when it has none or only empty values. A non-empty value that
// is not such a bearer token is an error naming why (never quoting the
// value, which may be a credential).
func bearer(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	tok := ""
	for _, v := range md.Get("authorization") {
		v = strings.Trim(v, " ")
		if v == "" {
			continue
		}
		scheme, rest, spaced := strings.Cut(v, " ")
		if !strings.EqualFold(scheme, "bearer") {
			if !spaced || len(scheme) > 20 || !isToken68(scheme) {
				// No "<scheme> <credentials>" shape: the value may be a
				// bare credential, not quoted.
				return "", fmt.Errorf("the authorization metadata is not a bearer token (want %q)", "Bearer <token>")
			}
			return "", fmt.Errorf("the authorization metadata's scheme is %q, not Bearer (want %q)", scheme, "Bearer <token>")
		}
		t := strings.TrimLeft(rest, " ")
		if t == "" {
			return "", fmt.Errorf("the authorization metadata has no token after Bearer (want %q)", "Bearer <token>")
		}
		if !isToken68(t) {
			return "", fmt.Errorf("the authorization bearer token holds characters a bearer token cannot (RFC 6750 b64token; want %q)", "Bearer <token>")
		}
		if tok == "" {
			tok = t
		}
	}
	return tok, nil
}

// isToken68 reports whether s is an RFC 6750 b64token: letters, digits,
// "-._~+/", then any "=" padding.
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for _, c := range body {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("-._~+/", c):
		default:
			return false
		}
	}
	return true
}

// start is a workflow start a request makes: its type, task queue and, when
// the gate hands the caller on, where its header is.
type start struct {
	typ, queue string
	header     func() *commonpb.Header // nil: not stamped (a schedule's action)
}

// starts lists the workflow starts of req.
func starts(req any) []start {
	switch r := req.(type) {
	case *workflowservice.StartWorkflowExecutionRequest:
		return []start{{r.GetWorkflowType().GetName(), r.GetTaskQueue().GetName(), func() *commonpb.Header {
			if r.Header == nil {
				r.Header = &commonpb.Header{}
			}
			return r.Header
		}}}
	case *workflowservice.SignalWithStartWorkflowExecutionRequest:
		return []start{{r.GetWorkflowType().GetName(), r.GetTaskQueue().GetName(), func() *commonpb.Header {
			if r.Header == nil {
				r.Header = &commonpb.Header{}
			}
			return r.Header
		}}}
	case *workflowservice.ExecuteMultiOperationRequest:
		var out []start
		for _, op := range r.GetOperations() {
			if s := op.GetStartWorkflow(); s != nil {
				out = append(out, starts(s)...)
			}
		}
		return out
	case *workflowservice.CreateScheduleRequest:
		return scheduleStart(r.GetSchedule().GetAction().GetStartWorkflow())
	case *workflowservice.UpdateScheduleRequest:
		return scheduleStart(r.GetSchedule().GetAction().GetStartWorkflow())
	}
	return nil
}

// scheduleStart is the start of a schedule's action. Its header is not
// stamped: a schedule would keep the token for every run, readable and
// expiring (docs/security.md).
func scheduleStart(w *workflowpb.NewWorkflowExecutionInfo) []start {
	if w == nil {
		return nil
	}
	return []start{{typ: w.GetWorkflowType().GetName(), queue: w.GetTaskQueue().GetName()}}
}

// decide refuses a start that the rule of its workflow type's method (or of
// the framework's runs) could not allow for creds whoever owns its object.
// A workflow type the gate does not know, and that the policy file names no
// rule for, is left to the services.
func (g *Gate) decide(s start, creds policy.Credentials, api string) error {
	topic, method, ok := strings.Cut(s.typ, ".")
	if !ok || topic == "" || method == "" {
		return nil
	}
	var d policy.Decision
	switch m, known := g.methods[s.typ]; {
	case method == "report_state" || method == "report_alive" || strings.HasPrefix(method, "periodic."):
		// The framework's own runs: a start carrying a caller is never its
		// schedule's (the scheduler's carry none).
		d = g.policy.CheckPossible(policy.FrameworkRule, creds)
	case known:
		d = g.policy.MethodPossible(topic, m, creds)
	default:
		rule := policy.MethodRule(topic, method)
		if _, named := g.policy.Rule(rule); !named {
			return nil
		}
		d = g.policy.CheckPossible(rule, creds)
	}
	if d.Allowed {
		return nil
	}
	err := d.Err(creds)
	g.logf("novaflow gate: start denied", "api", api, "workflow_type", s.typ, "task_queue", s.queue,
		"rule", d.Rule, "rule_text", d.Text, "user", creds.UserID, "project", creds.ProjectID, "roles", strings.Join(creds.Roles, ","))
	return serviceerror.NewPermissionDenied(fmt.Sprintf("novaflow: %s of %s: %v", shortAPI(api), s.typ, err), "")
}

func shortAPI(api string) string {
	if i := strings.LastIndexByte(api, '/'); i >= 0 {
		return api[i+1:]
	}
	return api
}

// stamp writes tok into h under auth.HeaderKey, encrypted with the codec
// when there is one, unless h already holds a value there: that one is left
// as is.
func (g *Gate) stamp(h *commonpb.Header, tok string) error {
	if h.Fields[auth.HeaderKey] != nil {
		return nil
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(tok)
	if err != nil {
		return serviceerror.NewInternal("novaflow: encoding the caller's token: " + err.Error())
	}
	if g.codec != nil {
		enc, err := g.codec.Encode([]*commonpb.Payload{p})
		if err != nil {
			return serviceerror.NewInternal("novaflow: encrypting the caller's token (NOVAFLOW_PAYLOAD_KEYS_FILE): " + err.Error())
		}
		p = enc[0]
	}
	if h.Fields == nil {
		h.Fields = map[string]*commonpb.Payload{}
	}
	h.Fields[auth.HeaderKey] = p
	return nil
}
