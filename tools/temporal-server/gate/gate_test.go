package gate

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	schedulepb "go.temporal.io/api/schedule/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/codec"
)

const issuer, audience = "https://issuer.test", "novaflow"

// TestIntercept: a call without a bearer passes untouched; a bearer that
// does not verify is Unauthenticated naming why; a start whose method's rule
// no owner could pass for the caller is PermissionDenied naming the rule,
// and never reaches the handler; an allowed start reaches it with the
// caller's token in its header, encrypted with the key ring, unless the
// header already holds a token: that one (a member's, in a service's start
// on the member's behalf) is left as is.
func TestIntercept(t *testing.T) {
	dir := t.TempDir()
	key, jwks, err := auth.GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	ringFile := filepath.Join(dir, "keys.json")
	k := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	if err := os.WriteFile(ringFile, []byte(fmt.Sprintf(`{"current":"a","keys":{"a":%q}}`, k)), 0o600); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(`"dns:delete_zone": "rule:admin"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NOVAFLOW_AUTH": "true", "NOVAFLOW_AUTH_JWKS": jwks, "NOVAFLOW_AUTH_ISSUER": issuer,
		"NOVAFLOW_AUTH_POLICY_FILE": policyFile, "NOVAFLOW_PAYLOAD_KEYS_FILE": ringFile}
	var logged []string
	g, err := FromEnv(context.Background(), func(k string) string { return env[k] }, nil, func(msg string, kv ...string) {
		logged = append(logged, msg+" "+strings.Join(kv, " "))
	})
	if err != nil || g == nil {
		t.Fatalf("FromEnv: %v, %v", g, err)
	}
	issue := func(c auth.Claims) string {
		c.Issuer, c.Audience = issuer, audience
		if c.TTL == 0 {
			c.TTL = time.Hour
		}
		tok, err := auth.Issue(key, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	member := issue(auth.Claims{Subject: "bob", ProjectID: "b", Roles: []string{"member"}})
	admin := issue(auth.Claims{Subject: "root", ProjectID: "ops", Roles: []string{"admin"}})
	service := issue(auth.Claims{Subject: "compute", ProjectID: "services", Roles: []string{"service"}})
	expired := issue(auth.Claims{Subject: "bob", ProjectID: "b", Roles: []string{"member"}, TTL: -time.Hour})
	// startWith is a start whose header holds headerTok ("": no header).
	startWith := func(typ, headerTok string) *workflowservice.StartWorkflowExecutionRequest {
		r := &workflowservice.StartWorkflowExecutionRequest{Namespace: "default", WorkflowType: &commonpb.WorkflowType{Name: typ},
			TaskQueue: &taskqueuepb.TaskQueue{Name: strings.Split(typ, ".")[0]}}
		if headerTok != "" {
			r.Header = &commonpb.Header{Fields: map[string]*commonpb.Payload{auth.HeaderKey: mustPayload(t, headerTok)}}
		}
		return r
	}
	start := func(typ string) *workflowservice.StartWorkflowExecutionRequest { return startWith(typ, "") }
	call := func(md []string, req any) (bool, error) {
		ctx := context.Background()
		if md != nil {
			ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(md...))
		}
		reached := false
		_, err := g.Intercept(ctx, req, &grpc.UnaryServerInfo{FullMethod: "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"},
			func(context.Context, any) (any, error) { reached = true; return nil, nil })
		return reached, err
	}

	// No bearer: as the stock server, header untouched.
	req := startWith("compute.report_state", "the client's own")
	if reached, err := call(nil, req); !reached || err != nil {
		t.Fatalf("no bearer: reached %v, %v", reached, err)
	}
	if got := headerToken(t, nil, req); got != "the client's own" {
		t.Fatalf("no bearer: the header was changed to %q", got)
	}
	// An empty authorization value is no bearer either.
	if reached, err := call([]string{"authorization", ""}, start("compute.report_state")); !reached || err != nil {
		t.Errorf("an empty authorization: reached %v, %v; want through", reached, err)
	}
	// Authorization values that are not "Bearer <token>": Unauthenticated,
	// naming why, never quoting the credential.
	for name, tc := range map[string]struct{ value, why string }{
		"tab":          {"Bearer\t" + member, "not a bearer token"},
		"bare token":   {member, "not a bearer token"},
		"Token scheme": {"Token " + member, `scheme is "Token", not Bearer`},
		"Basic":        {"Basic Ym9iOnB3", `scheme is "Basic", not Bearer`},
		"empty Bearer": {"Bearer   ", "no token after Bearer"},
		"Bearer alone": {"bearer", "no token after Bearer"},
		"two words":    {"Bearer " + member + " x", "characters a bearer token cannot"},
	} {
		reached, err := call([]string{"authorization", tc.value}, start("compute.stop_instance"))
		if reached || status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: reached %v, %v; want Unauthenticated saying %q", name, reached, err, tc.why)
		} else if strings.Contains(err.Error(), member[:20]) || strings.Contains(err.Error(), "Ym9iOnB3") {
			t.Errorf("%s: the refusal quotes the credential: %v", name, err)
		}
	}
	// A well-formed bearer beside a value that is not: refused too.
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+member, "authorization", "Basic Ym9iOnB3"))
	if _, err := bearer(ctx); err == nil {
		t.Errorf("a Bearer and a Basic authorization: no error")
	}
	// Bearers that do not verify.
	for name, md := range map[string][]string{
		"forged":  {"authorization", "Bearer " + member[:len(member)-4] + "AAAA"},
		"expired": {"authorization", "Bearer " + expired},
		"garbage": {"authorization", "Bearer x.y.z"},
	} {
		reached, err := call(md, start("compute.stop_instance"))
		if reached || status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: reached %v, %v; want Unauthenticated", name, reached, err)
		}
	}
	if _, err := call([]string{"authorization", "Bearer " + expired}, start("compute.stop_instance")); !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired token's refusal does not say so: %v", err)
	}
	// Role-impossible starts: refused, naming the rule.
	for typ, rule := range map[string]string{
		"compute.report_state":   `rule "novaflow:framework" (rule:service)`,
		"compute.periodic.heal":  `rule "novaflow:framework" (rule:service)`,
		"dns.delete_zone":        `rule "dns:delete_zone" (rule:admin)`,
		"conductor.report_alive": `rule "novaflow:framework"`,
	} {
		reached, err := call([]string{"authorization", "Bearer " + member}, start(typ))
		var denied *serviceerror.PermissionDenied
		if reached || !errorsAs(err, &denied) || !strings.Contains(err.Error(), rule) || !strings.Contains(err.Error(), `user "bob" of project "b"`) {
			t.Errorf("%s for a member: reached %v, %v; want PermissionDenied naming %s", typ, reached, err, rule)
		}
	}
	if len(logged) == 0 || !strings.Contains(strings.Join(logged, "\n"), "start denied") {
		t.Errorf("refusals are not logged: %q", logged)
	}
	// Starts some owner's rule could pass, or unknown types: through, with
	// the caller's token stamped (encrypted) into the header.
	ring, err := codec.LoadKeyRing(ringFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ typ, tok, scheme string }{
		{"compute.stop_instance", member, "Bearer"},
		{"conductor.build_instances", member, "bearer"},
		{"dns.create_zone", member, "Bearer"},
		{"dns.delete_zone", admin, "Bearer"},
	} {
		req := start(tc.typ)
		reached, err := call([]string{"authorization", tc.scheme + " " + tc.tok}, req)
		if !reached || err != nil {
			t.Errorf("%s: reached %v, %v", tc.typ, reached, err)
			continue
		}
		p := req.Header.Fields[auth.HeaderKey]
		if string(p.Metadata["encoding"]) != "binary/encrypted" || strings.Contains(string(p.Data), tc.tok[:20]) {
			t.Errorf("%s: the stamped header is not encrypted: %s", tc.typ, p.Metadata["encoding"])
		}
		if got := headerToken(t, codec.New(ring), req); got != tc.tok {
			t.Errorf("%s: the stamped header decodes to %.20q, want the caller's token", tc.typ, got)
		}
	}
	// A service's start on a member's behalf (its connection's API key its
	// own token, the member's in the header): the member's token stays, so
	// the services check the member, not the service.
	for _, req := range []*workflowservice.StartWorkflowExecutionRequest{startWith("volume.attach_volume", member), startWith("volume.detach_volume", member)} {
		before := req.Header.Fields[auth.HeaderKey]
		if reached, err := call([]string{"authorization", "Bearer " + service}, req); !reached || err != nil {
			t.Errorf("%s by a service for a member: reached %v, %v", req.WorkflowType.Name, reached, err)
			continue
		}
		if req.Header.Fields[auth.HeaderKey] != before || headerToken(t, nil, req) != member {
			t.Errorf("%s by a service for a member: the member's header token was replaced (stamped %s)",
				req.WorkflowType.Name, req.Header.Fields[auth.HeaderKey].GetMetadata()["encoding"])
		}
	}
	// A schedule's action is checked (and not stamped: a schedule would
	// keep the token for every run).
	sched := &workflowservice.CreateScheduleRequest{Schedule: &schedulepb.Schedule{Action: &schedulepb.ScheduleAction{
		Action: &schedulepb.ScheduleAction_StartWorkflow{StartWorkflow: &workflowpb.NewWorkflowExecutionInfo{
			WorkflowType: &commonpb.WorkflowType{Name: "compute.periodic.heal"}, TaskQueue: &taskqueuepb.TaskQueue{Name: "compute"}}}}}}
	if reached, err := call([]string{"authorization", "Bearer " + member}, sched); reached || !strings.Contains(fmt.Sprint(err), "novaflow:framework") {
		t.Errorf("a member's schedule of a framework run: reached %v, %v", reached, err)
	}
	sched.Schedule.Action.GetStartWorkflow().WorkflowType.Name = "compute.stop_instance"
	if reached, err := call([]string{"authorization", "Bearer " + member}, sched); !reached || err != nil ||
		sched.Schedule.Action.GetStartWorkflow().GetHeader().GetFields()[auth.HeaderKey] != nil {
		t.Errorf("a member's schedule of stop_instance: reached %v, %v, header %v; want through, unstamped", reached, err, sched.Schedule.Action.GetStartWorkflow().GetHeader())
	}
	// A start inside ExecuteMultiOperation is checked and stamped too.
	multi := &workflowservice.ExecuteMultiOperationRequest{Operations: []*workflowservice.ExecuteMultiOperationRequest_Operation{
		{Operation: &workflowservice.ExecuteMultiOperationRequest_Operation_StartWorkflow{StartWorkflow: start("compute.report_state")}}}}
	if reached, err := call([]string{"authorization", "Bearer " + member}, multi); reached || err == nil {
		t.Errorf("a multi-operation start of a framework run by a member: reached %v, %v", reached, err)
	}
}

func errorsAs(err error, target **serviceerror.PermissionDenied) bool {
	d, ok := err.(*serviceerror.PermissionDenied)
	*target = d
	return ok
}

func mustPayload(t *testing.T, s string) *commonpb.Payload {
	p, err := converter.GetDefaultDataConverter().ToPayload(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func headerToken(t *testing.T, c *codec.Codec, req *workflowservice.StartWorkflowExecutionRequest) string {
	t.Helper()
	p := req.Header.Fields[auth.HeaderKey]
	if c != nil {
		dec, err := c.Decode([]*commonpb.Payload{p})
		if err != nil {
			t.Fatal(err)
		}
		p = dec[0]
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFromEnv: without NOVAFLOW_AUTH (or with it false) there is no gate:
// the stock server; bad settings are errors naming them.
func TestFromEnv(t *testing.T) {
	for name, tc := range map[string]struct {
		env     map[string]string
		setting string
	}{
		"unset":     {map[string]string{}, ""},
		"false":     {map[string]string{"NOVAFLOW_AUTH": "false", "NOVAFLOW_AUTH_JWKS": "x"}, ""},
		"bad bool":  {map[string]string{"NOVAFLOW_AUTH": "yes please"}, "NOVAFLOW_AUTH"},
		"no issuer": {map[string]string{"NOVAFLOW_AUTH": "true", "NOVAFLOW_AUTH_JWKS": "x"}, "NOVAFLOW_AUTH_ISSUER"},
		"no jwks":   {map[string]string{"NOVAFLOW_AUTH": "true", "NOVAFLOW_AUTH_ISSUER": issuer}, "NOVAFLOW_AUTH_JWKS"},
		"http jwks": {map[string]string{"NOVAFLOW_AUTH": "true", "NOVAFLOW_AUTH_ISSUER": issuer, "NOVAFLOW_AUTH_JWKS": "http://keys.test/jwks"}, "NOVAFLOW_AUTH_JWKS"},
		"bad claim": {map[string]string{"NOVAFLOW_AUTH": "true", "NOVAFLOW_AUTH_ISSUER": issuer, "NOVAFLOW_AUTH_JWKS": "x", "NOVAFLOW_AUTH_ROLES_CLAIM": "a..b"}, "NOVAFLOW_AUTH_ROLES_CLAIM"},
	} {
		g, err := FromEnv(context.Background(), func(k string) string { return tc.env[k] }, nil, nil)
		if tc.setting == "" {
			if g != nil || err != nil {
				t.Errorf("%s: %v, %v; want no gate", name, g, err)
			}
			continue
		}
		var se *SettingError
		if se, _ = err.(*SettingError); se == nil || se.Setting != tc.setting {
			t.Errorf("%s: %v; want an error naming %s", name, err, tc.setting)
		}
	}
}
