package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/codec"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/testenv"
)

// TestDevAuth: `novaflow dev --auth` runs its services with authorization
// on and hands the shell an admin's token; novaflow auth token makes a
// member's of another project. Through rpc.Client the admin's token is let
// through (to the method's NotFound), the member's is denied on an instance
// its project does not own (here: none), and calls without a valid token
// are refused; without --auth dev says in one line that authorization is
// off (TestDevUsesGivenTemporal). The same through `novaflow call` with
// NOVAFLOW_TOKEN. The payload codec is on too: read without it, a call's
// history holds no request field; the codec server dev runs decodes it for
// the admin and refuses the member.
func TestDevAuth(t *testing.T) {
	server := testenv.Temporal(t)
	namespace := testenv.UniqueName(t, "devauth")
	for _, k := range []string{"DATABASE_URL", "NOVAFLOW_HEALTH_ADDRESS", "NOVAFLOW_CONFIG_FILE", "NOVAFLOW_TOKEN", "NOVAFLOW_TOKEN_FILE",
		"NOVAFLOW_TEMPORAL_ADDRESS", "NOVAFLOW_TEMPORAL_NAMESPACE", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE",
		"NOVAFLOW_AUTH", "NOVAFLOW_AUTH_JWKS", "NOVAFLOW_AUTH_ISSUER", "NOVAFLOW_AUTH_AUDIENCE", "NOVAFLOW_PAYLOAD_KEYS_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("NOVAFLOW_TEMPORAL_ADDRESS", server.Address())
	t.Setenv("NOVAFLOW_TEMPORAL_NAMESPACE", namespace)
	t.Setenv("NOVAFLOW_DATABASE_URL", testenv.Postgres(t))
	t.Setenv("NOVAFLOW_HOST", "devauth")
	t.Setenv("NOVAFLOW_COMPUTE_DRIVER", "fake")
	work := t.TempDir()
	t.Chdir(work)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o := devOptions{dir: filepath.Join(work, stackDir), temporal: temporalDev, auth: true,
		temporalPort: l.Addr().(*net.TCPAddr).Port, uiPort: l.Addr().(*net.TCPAddr).Port, postgresPort: testenv.FreePort(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() { done <- runDev(ctx, o, out) }()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(out.String(), "novaflow dev is running") {
		select {
		case err := <-done:
			t.Fatalf("novaflow dev exited: %v\n%s", err, out)
		case <-deadline:
			t.Fatalf("novaflow dev did not start\n%s", out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	m := regexp.MustCompile(`(?m)^  export NOVAFLOW_TOKEN=(\S+)$`).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "authorization is on") {
		t.Fatalf("no token handed to the shell:\n%s", out)
	}
	admin := m[1]
	var member bytes.Buffer
	if err := printToken(&member, o.dir, "text", auth.Claims{Issuer: devIssuer, Audience: devAudience, Subject: "bob", ProjectID: "other", Roles: []string{"member"}, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}

	// dev --auth turns the payload codec on too, with a key ring in its
	// folder that the shell is handed, and serves it.
	km := regexp.MustCompile(`(?m)^  export NOVAFLOW_PAYLOAD_KEYS_FILE=(\S+)$`).FindStringSubmatch(out.String())
	cm := regexp.MustCompile(`codec server on http://(\S+) `).FindStringSubmatch(out.String())
	if km == nil || cm == nil || !strings.Contains(out.String(), "payloads are encrypted with key") {
		t.Fatalf("dev --auth did not turn the payload codec on:\n%s", out)
	}
	keys, codecAddr := km[1], cm[1]

	// The stack file carries the authorization settings and the key ring
	// (never a token), so that commands run beside the stack, in its
	// folder or below, verify tokens and decode results without exports.
	want := map[string]string{"NOVAFLOW_AUTH": "true", "NOVAFLOW_AUTH_JWKS": filepath.Join(o.dir, auth.DevJWKSFile),
		"NOVAFLOW_AUTH_ISSUER": devIssuer, "NOVAFLOW_AUTH_AUDIENCE": devAudience, "NOVAFLOW_PAYLOAD_KEYS_FILE": keys}
	got := map[string]string{}
	for _, kv := range useDevStack().extra {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for k, v := range want {
		if abs, _ := filepath.Abs(v); got[k] != v && got[k] != abs {
			t.Errorf("a command beside the dev --auth stack gets %s=%q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if _, ok := got["NOVAFLOW_TOKEN"]; ok {
		t.Errorf("a command beside the stack is given a token: %v", got)
	}
	if _, ok := got["NOVAFLOW_TOKEN_FILE"]; ok {
		t.Errorf("a command beside the stack is given a token file: %v", got)
	}
	pc, err := codec.Open(keys, nil)
	if err != nil {
		t.Fatalf("the key ring dev handed the shell: %v", err)
	}
	withCodec, err := codec.DialOption(pc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: server.Address(), Namespace: namespace, Logger: sdklog.NewStructuredLogger(discardLogger()),
		ContextPropagators: []workflow.ContextPropagator{auth.Propagator{}}, ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{withCodec}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := rpc.New(rpc.Options{Temporal: c})
	if err != nil {
		t.Fatal(err)
	}
	call := func(tok string) error {
		cctx, ccancel := context.WithTimeout(auth.WithToken(ctx, tok), time.Minute)
		defer ccancel()
		return rc.Call(cctx, "compute", "get_instance_info", map[string]any{"instance_uuid": uuid.NewString()}, nil, rpc.ToHost("devauth"))
	}
	for name, tc := range map[string]struct{ token, want string }{
		"admin":   {admin, managers.NotFoundType},
		"member":  {strings.TrimSpace(member.String()), policy.DeniedType},
		"none":    {"", policy.UnauthenticatedType},
		"garbage": {"x.y.z", policy.UnauthenticatedType},
	} {
		if err := call(tc.token); !isErrType(err, tc.want) {
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
	}

	// The same through `novaflow call`, which presents NOVAFLOW_TOKEN.
	t.Setenv("NOVAFLOW_PAYLOAD_KEYS_FILE", keys)
	in := `{"instance_uuid":"` + uuid.NewString() + `"}`
	for name, tc := range map[string]struct{ token, want string }{
		"admin":  {admin, managers.NotFoundType},
		"member": {strings.TrimSpace(member.String()), policy.DeniedType},
		"none":   {"", policy.UnauthenticatedType},
	} {
		t.Setenv("NOVAFLOW_TOKEN", tc.token)
		var stdout, stderr bytes.Buffer
		code := execute([]string{"novaflow", "call", "compute.get_instance_info", "--host", "devauth", "--input", in}, &stdout, &stderr)
		if code != 3 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("novaflow call as %s: exit %d, %s%s; want 3 and %s", name, code, stdout.String(), stderr.String(), tc.want)
		}
	}

	// run-periodic --host starts a framework run itself, which rule
	// novaflow:framework allows to service identities only: the admin's
	// token is refused at once, with what to use instead; a service's token
	// runs it; without --host the admin triggers the schedules.
	var service bytes.Buffer
	if err := printToken(&service, o.dir, "text", auth.Claims{Issuer: devIssuer, Audience: devAudience, Subject: "ops", Roles: []string{"service"}, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	runPeriodic := func(tok string, args ...string) (int, string, string) {
		t.Setenv("NOVAFLOW_TOKEN", tok)
		var stdout, stderr bytes.Buffer
		code := execute(append([]string{"novaflow", "service", "run-periodic", "compute", "--task", "sync_power_states"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	pcode, pout, perr := runPeriodic(admin, "--host", "devauth")
	for _, want := range []string{policy.DeniedType, policy.FrameworkRule, "role service", "NOVAFLOW_TOKEN", "novaflow auth token --user", "--role service"} {
		if pcode != 3 || !strings.Contains(perr, want) {
			t.Errorf("run-periodic --host as the admin: exit %d %s%s; want 3 and %q", pcode, pout, perr, want)
		}
	}
	if code, stdout, stderr := runPeriodic(strings.TrimSpace(service.String()), "--host", "devauth"); code != 0 || !strings.Contains(stdout, "triggered periodic:compute:sync_power_states@devauth-") {
		t.Errorf("run-periodic --host with a service's token: exit %d %s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := runPeriodic(admin); code != 0 || !strings.Contains(stdout, "triggered periodic:compute:sync_power_states") {
		t.Errorf("run-periodic without --host as the admin: exit %d %s%s", code, stdout, stderr)
	}

	// Read without the codec, the history shows no request field: every
	// call's input is ciphertext. The codec server decodes it for the
	// admin, not for the member.
	plain, err := client.Dial(client.Options{HostPort: server.Address(), Namespace: namespace, Logger: sdklog.NewStructuredLogger(discardLogger())})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	list, err := plain.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: "WorkflowType = 'compute.get_instance_info'"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Executions) < 4 {
		t.Fatalf("%d get_instance_info executions listed, want at least 4", len(list.Executions))
	}
	var sealed *commonpb.Payloads
	for _, ex := range list.Executions {
		it := plain.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		input := ev.GetWorkflowExecutionStartedEventAttributes().GetInput()
		for _, p := range input.GetPayloads() {
			if enc := string(p.Metadata["encoding"]); enc != "binary/encrypted" || bytes.Contains(p.Data, []byte("instance_uuid")) {
				t.Errorf("workflow %s: input read without the codec is %s %q, want ciphertext", ex.Execution.WorkflowId, enc, p.Data)
			}
		}
		sealed = input
	}
	decode := func(tok string) (int, string) {
		body, err := protojson.Marshal(sealed)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+codecAddr+"/decode", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", namespace)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("codec server: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := decode(admin)
	var opened commonpb.Payloads
	if err := protojson.Unmarshal([]byte(body), &opened); code != http.StatusOK || err != nil || len(opened.Payloads) != 1 ||
		!bytes.Contains(opened.Payloads[0].Data, []byte(`"instance_uuid":`)) {
		t.Errorf("the admin's decode: %d %s (%v), want the request", code, body, err)
	}
	if code, body := decode(strings.TrimSpace(member.String())); code != http.StatusForbidden {
		t.Errorf("the member's decode: %d %s, want 403", code, body)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("novaflow dev: %v\n%s", err, out)
	}
	if strings.Contains(out.String(), "authorization is off") {
		t.Errorf("dev --auth says authorization is off:\n%s", out)
	}
}

func isErrType(err error, typ string) bool {
	e, ok := managers.AsError(err)
	return ok && e.Type == typ
}
