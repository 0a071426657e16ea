//go:build temporalsql

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/codec"
	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// TestServerGate runs `novaflow dev --temporal=postgres --auth`: the
// Temporal server novaflow builds (tools/temporal-server) with its gate on,
// and the services with authorization and the payload codec on. Through
// the temporal CLI's own credential flags, without a memo token:
//
//   - a member of project A builds an instance (--api-key) and reads it
//     (--grpc-meta authorization="Bearer ..."): the gate hands the caller
//     to the services in the start's header, encrypted;
//
//   - a member of project B stopping A's instance is refused by the
//     service (owner rule, PolicyDenied);
//
//   - a start whose rule no owner could pass (a framework run, a method the
//     policy file makes admin-only) is PermissionDenied at the frontend,
//     naming the rule, and leaves no execution;
//
//   - a forged or expired bearer is Unauthenticated at the frontend;
//
//   - the status reports' schedules keep running.
//
//     go test -tags temporalsql -count=1 -run TestServerGate ./cmd/novaflow
func TestServerGate(t *testing.T) {
	work, err := os.MkdirTemp("", "novaflow-gate-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o755); err != nil { // PostgreSQL runs as postgres under root
		t.Fatal(err)
	}
	t.Chdir(work)
	policyFile := filepath.Join(work, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(`"compute:reboot_instance": "rule:admin"`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"NOVAFLOW_DATABASE_URL", "DATABASE_URL", "NOVAFLOW_TEMPORAL_ADDRESS", "NOVAFLOW_TEMPORAL_NAMESPACE", "NOVAFLOW_HEALTH_ADDRESS",
		"NOVAFLOW_TOKEN", "NOVAFLOW_TOKEN_FILE", "NOVAFLOW_AUTH", "NOVAFLOW_AUTH_JWKS", "NOVAFLOW_AUTH_ISSUER", "NOVAFLOW_AUTH_AUDIENCE",
		"NOVAFLOW_PAYLOAD_KEYS_FILE", "NOVAFLOW_CONFIG_FILE", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE", "TEMPORAL_API_KEY"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("NOVAFLOW_HOST", "gate-host")
	t.Setenv("NOVAFLOW_COMPUTE_DRIVER", "fake")
	t.Setenv("NOVAFLOW_REPORT_INTERVAL", "1s")
	t.Setenv("NOVAFLOW_AUTH_POLICY_FILE", policyFile)
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(work, "temporal.toml"))
	o := devOptions{dir: filepath.Join(work, stackDir), temporal: temporalPostgres, auth: true,
		temporalPort: testenv.FreePort(t), uiPort: testenv.FreePort(t), postgresPort: testenv.FreePort(t)}
	address := fmt.Sprintf("127.0.0.1:%d", o.temporalPort)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute) // the first run builds the server
	defer cancel()
	progress := &testenv.Buffer{}
	temporal, err := devstack.TemporalCLI(ctx, progress)
	if err != nil {
		t.Fatalf("the pinned temporal CLI: %v\n%s", err, progress)
	}
	dev := startDev(t, o)
	defer dev.stop(t)
	began := time.Now()
	out := dev.out.String()
	m := regexp.MustCompile(`(?m)^  export NOVAFLOW_TOKEN=(\S+)$`).FindStringSubmatch(out)
	cm := regexp.MustCompile(`codec server on http://(\S+) `).FindStringSubmatch(out)
	km := regexp.MustCompile(`(?m)^  export NOVAFLOW_PAYLOAD_KEYS_FILE=(\S+)$`).FindStringSubmatch(out)
	if m == nil || cm == nil || km == nil {
		t.Fatalf("dev --auth handed no token, codec server or key ring:\n%s", out)
	}
	admin, codecURL := m[1], "http://"+cm[1]
	token := func(user, project string, ttl time.Duration) string {
		t.Helper()
		tok, err := auth.Issue(filepath.Join(o.dir, auth.DevKeyFile), auth.Claims{Issuer: devIssuer, Audience: devAudience,
			Subject: user, ProjectID: project, Roles: []string{"member"}, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice, bob := token("alice", "a", time.Hour), token("bob", "b", time.Hour)
	expired := token("alice", "a", -time.Hour)
	forged := alice[:strings.LastIndexByte(alice, '.')+1] + strings.Repeat("A", 86)

	// The CLI reads results and failures through dev's codec server (as the
	// admin); the credential each call carries is its own flag.
	cli := func(args ...string) (string, error) {
		t.Helper()
		args = append(args, "--address", address, "--namespace", "default", "--codec-endpoint", codecURL, "--codec-auth", "Bearer "+admin)
		cmd := exec.CommandContext(ctx, temporal, args...)
		cmd.Dir = work
		b, err := cmd.CombinedOutput()
		shown := strings.Join(args[:min(len(args), 12)], " ")
		for _, tok := range []string{admin, alice, bob, expired, forged} {
			shown = strings.ReplaceAll(shown, tok, "<token>")
		}
		t.Logf("$ temporal %s\n%s", shown, b)
		return string(b), err
	}
	apiKey := func(tok string) []string { return []string{"--api-key", tok, "--tls=false"} }
	execute := func(cred []string, id, queue, typ, input string) (string, error) {
		return cli(append([]string{"workflow", "execute", "--workflow-id", id, "--task-queue", queue, "--type", typ, "--input", input}, cred...)...)
	}

	// Alice (project a) builds, with --api-key and no memo.
	res, err := execute(apiKey(alice), "gate-build", "conductor", "conductor.build_instances",
		`{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]}}`)
	if err != nil {
		t.Fatalf("a member's build with --api-key: %v", err)
	}
	um := regexp.MustCompile(`"uuid":\s*"([0-9a-f-]{36})"`).FindStringSubmatch(res)
	if um == nil {
		t.Fatalf("no instance in the build's result:\n%s", res)
	}
	uuid := um[1]
	in := `{"instance_uuid":"` + uuid + `"}`
	// And reads it, with --grpc-meta.
	if res, err := execute([]string{"--grpc-meta", "authorization=Bearer " + alice}, "gate-show", "compute", "compute.get_instance_info", in); err != nil || !strings.Contains(res, uuid) {
		t.Fatalf("a member's get_instance_info with --grpc-meta: %v", err)
	}

	// Bob (project b) may stop instances, not A's: the service refuses.
	// (Its failure is encrypted, which the CLI's --codec-endpoint does not
	// decode: read it with the key ring.)
	if _, err := execute(apiKey(bob), "gate-stop-b", "compute", "compute.stop_instance", in); err == nil {
		t.Fatal("another project's member stopped A's instance")
	}
	pc, err := codec.Open(km[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	withCodec, err := codec.DialOption(pc)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := client.Dial(client.Options{HostPort: address, Namespace: "default", ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{withCodec}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	if err := sealed.GetWorkflow(ctx, "gate-stop-b", "").Get(ctx, nil); err == nil ||
		!strings.Contains(err.Error(), "PolicyDenied") || !strings.Contains(err.Error(), "compute:stop_instance") {
		t.Fatalf("another project's member stopping A's instance: %v; want PolicyDenied naming compute:stop_instance", err)
	}

	// Starts no owner could allow: refused at the frontend, nothing recorded.
	tc, err := client.Dial(client.Options{HostPort: address, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	withKey, err := client.Dial(client.Options{HostPort: address, Namespace: "default", Credentials: client.NewAPIKeyStaticCredentials(alice),
		ConnectionOptions: client.ConnectionOptions{TLSDisabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer withKey.Close()
	for id, tc2 := range map[string]struct{ typ, queue, input, rule string }{
		"gate-reboot":    {"compute.reboot_instance", "compute", `{"instance_uuid":"` + uuid + `","reboot_type":"SOFT"}`, `rule "compute:reboot_instance" (rule:admin)`},
		"gate-framework": {"compute.report_state", "compute", `{}`, `rule "novaflow:framework" (rule:service)`},
	} {
		res, err := execute(apiKey(alice), id, tc2.queue, tc2.typ, tc2.input)
		res = strings.ReplaceAll(res, `\"`, `"`) // the CLI's log quotes the message
		if err == nil || !strings.Contains(res, "PolicyDenied") || !strings.Contains(res, tc2.rule) {
			t.Errorf("%s by a member: %v; want a refusal naming %s", tc2.typ, err, tc2.rule)
		}
		// The same start from the SDK with an API key: PermissionDenied.
		_, err = withKey.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: tc2.queue}, tc2.typ, json.RawMessage(tc2.input))
		var denied *serviceerror.PermissionDenied
		if !errors.As(err, &denied) || !strings.Contains(err.Error(), tc2.rule) {
			t.Errorf("%s by a member through the SDK with an API key: %v; want PermissionDenied naming %s", tc2.typ, err, tc2.rule)
		}
		if _, err := tc.DescribeWorkflowExecution(ctx, id, ""); !isNotFound(err) {
			t.Errorf("the refused start %s left an execution: %v", id, err)
		}
		if res, err := cli("workflow", "list", "--query", "WorkflowId = '"+id+"'"); err != nil || strings.Contains(res, id) {
			t.Errorf("workflow list shows the refused start %s (%v)", id, err)
		}
	}

	// Bearers that do not verify: Unauthenticated at the frontend.
	for name, tok := range map[string]string{"expired": expired, "forged": forged} {
		res, err := execute(apiKey(tok), "gate-"+name, "compute", "compute.get_instance_info", in)
		if err == nil || !strings.Contains(res, "Unauthenticated") || !strings.Contains(res, "refused") {
			t.Errorf("an %s bearer: %v; want Unauthenticated", name, err)
		}
		if _, err := tc.DescribeWorkflowExecution(ctx, "gate-"+name, ""); !isNotFound(err) {
			t.Errorf("the %s bearer's start left an execution: %v", name, err)
		}
	}
	if res, _ := execute(apiKey(expired), "gate-expired", "compute", "compute.get_instance_info", in); !strings.Contains(res, "expired") {
		t.Errorf("an expired bearer's refusal does not say expired")
	}

	// The header the gate stamped, read without the codec: ciphertext.
	it := tc.GetWorkflowHistory(ctx, "gate-build", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	ev, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	p := ev.GetWorkflowExecutionStartedEventAttributes().GetHeader().GetFields()[auth.HeaderKey]
	if p == nil || string(p.Metadata["encoding"]) != "binary/encrypted" || bytes.Contains(p.Data, []byte(alice[:40])) {
		t.Errorf("the build's header %s read without the codec: %v, want the caller's token encrypted", auth.HeaderKey, p.GetMetadata())
	}

	// The server's own calls are not gated: the reports' schedule started
	// its run (no bearer), and that run's reports (local activities, every
	// NOVAFLOW_REPORT_INTERVAL) succeed: the services allow a run its
	// schedule started.
	id := worker.ReportScheduleID("compute")
	waitUntil(t, time.Minute, "two successful reports in a run of schedule "+id, func() bool {
		desc, err := tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil || len(desc.Info.RunningWorkflows) == 0 {
			return false
		}
		run := desc.Info.RunningWorkflows[0]
		it := tc.GetWorkflowHistory(ctx, run.WorkflowID, run.FirstExecutionRunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		ok := 0
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return false
			}
			if m := ev.GetMarkerRecordedEventAttributes(); m.GetMarkerName() == "LocalActivity" {
				if m.GetFailure() != nil {
					t.Fatalf("a report of schedule %s failed (event %d)", id, ev.GetEventId())
				}
				ok++
			}
		}
		return ok >= 2
	})
	t.Logf("the checks took %s", time.Since(began).Round(time.Millisecond))
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
