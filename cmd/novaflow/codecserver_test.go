package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/codec"
	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

type codecEchoRequest struct {
	Secret string `json:"secret"`
}

type codecEchoResponse struct {
	Out string `json:"out"`
}

type codecTestManager struct{}

func (codecTestManager) RPCMethods() []managers.Method {
	return []managers.Method{
		managers.NewMethod("echo", "1.0", func(_ context.Context, req codecEchoRequest) (codecEchoResponse, error) {
			return codecEchoResponse{Out: "result-of-" + req.Secret}, nil
		}),
		managers.NewMethod("refuse", "1.0", func(_ context.Context, req codecEchoRequest) (codecEchoResponse, error) {
			return codecEchoResponse{}, managers.InvalidArgument("secret", "%q is refused", req.Secret)
		}),
	}
}

func (codecTestManager) PeriodicTasks() []managers.PeriodicTask { return nil }

// writeRing writes a key ring file of keys (id -> base64) with current.
func writeRing(t *testing.T, name, current string, keys map[string]string) string {
	t.Helper()
	var parts []string
	for id, k := range keys {
		parts = append(parts, fmt.Sprintf("%q: %q", id, k))
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`{"current": %q, "keys": {%s}}`, current, strings.Join(parts, ", "))), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newAESKey(t *testing.T) string {
	k := make([]byte, codec.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// rawHistory is the history of workflow id as Temporal stores it, read by a
// client without the codec, marshalled to bytes.
func rawHistory(t *testing.T, c client.Client, namespace, id string) []byte {
	t.Helper()
	resp, err := c.WorkflowService().GetWorkflowExecutionHistory(context.Background(), &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace: namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: id}, MaximumPageSize: 1000,
	})
	if err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	b, err := proto.Marshal(resp.GetHistory())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetHistory().GetEvents()) < 5 {
		t.Fatalf("history of %s has %d events", id, len(resp.GetHistory().GetEvents()))
	}
	return b
}

// encryptedPayloads counts the payloads of a history's started and
// completed events that are encrypted, and those that are not.
func encryptedPayloads(t *testing.T, raw []byte) (enc, plain int) {
	t.Helper()
	var h historypb.History
	if err := proto.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	count := func(ps ...*commonpb.Payload) {
		for _, p := range ps {
			if string(p.GetMetadata()[converter.MetadataEncoding]) == codec.Encoding {
				enc++
			} else if p != nil {
				plain++
			}
		}
	}
	for _, e := range h.GetEvents() {
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			count(a.GetInput().GetPayloads()...)
			for _, p := range a.GetMemo().GetFields() {
				count(p)
			}
		}
		if a := e.GetWorkflowExecutionCompletedEventAttributes(); a != nil {
			count(a.GetResult().GetPayloads()...)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			count(a.GetInput().GetPayloads()...)
		}
		if a := e.GetActivityTaskCompletedEventAttributes(); a != nil {
			count(a.GetResult().GetPayloads()...)
		}
	}
	return enc, plain
}

// TestPayloadCodec: with NOVAFLOW_PAYLOAD_KEYS_FILE set, a real call's
// request, result, memo and error are unreadable in the history a client
// without the codec reads (the search attributes stay readable), a schedule's
// action arguments too; the caller reads them back; after a key rotation the
// old calls stay readable; a ring without their key names it; `novaflow
// codec-server` lets the pinned temporal CLI show the decoded input with
// --codec-endpoint and --codec-auth, and refuses a wrong token.
func TestPayloadCodec(t *testing.T) {
	srv := testenv.Temporal(t)
	dbURL := testenv.Postgres(t)
	ctx := context.Background()
	topic := testenv.UniqueName(t, "codec")
	managers.Register(managers.Definition{Name: topic, Topic: topic, Version: 1,
		New: func(managers.Deps) (managers.Manager, error) { return codecTestManager{}, nil }})

	k1, k2 := newAESKey(t), newAESKey(t)
	ring1 := writeRing(t, "ring1.json", "k1", map[string]string{"k1": k1})
	ring2 := writeRing(t, "ring2.json", "k2", map[string]string{"k1": k1, "k2": k2})
	onlyK2 := writeRing(t, "ring3.json", "k2", map[string]string{"k2": k2})

	config := func(host, ring string) worker.Config {
		cfg := worker.DefaultConfig()
		cfg.Host, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL = host, srv.Address(), srv.Namespace(), dbURL
		cfg.PayloadKeysFile, cfg.GracefulShutdownTimeout = ring, time.Second
		return cfg
	}
	startService := func(cfg worker.Config, shared client.Client) *worker.Service {
		svc, err := worker.Create(cfg, worker.Options{Topic: topic, Logger: discardLogger(), Temporal: shared})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		return svc
	}
	caller := func(cfg worker.Config) (client.Client, *rpc.Client) {
		tc, err := worker.Dial(ctx, cfg, discardLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tc.Close)
		rc, err := rpc.New(rpc.Options{Temporal: tc})
		if err != nil {
			t.Fatal(err)
		}
		return tc, rc
	}
	plain := srv.Client(t) // no codec

	svc := startService(config("h1", ring1), nil)
	tc1, rc1 := caller(config("caller", ring1))
	const secret1 = "s3cret-request-field-one"
	var resp codecEchoResponse
	if err := rc1.Call(ctx, topic, "echo", codecEchoRequest{Secret: secret1}, &resp, rpc.RequestID("one")); err != nil {
		t.Fatal(err)
	}
	if resp.Out != "result-of-"+secret1 {
		t.Fatalf("result %q", resp.Out)
	}
	id1 := rpc.WorkflowID(topic, "echo", "", "one")
	raw := rawHistory(t, plain, srv.Namespace(), id1)
	for _, v := range []string{secret1, "result-of-" + secret1, `"1.0"`} {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("the stored history holds %q", v)
		}
	}
	if enc, pl := encryptedPayloads(t, raw); enc < 4 || pl != 0 {
		t.Errorf("history payloads: %d encrypted, %d plain; want the input, memo, activity input and result, workflow result encrypted", enc, pl)
	}
	// What stays visible: the workflow ID, the search attributes.
	for _, v := range []string{topic, "echo"} {
		if !bytes.Contains(raw, []byte(v)) {
			t.Errorf("the stored history lacks %q (the raw search is broken?)", v)
		}
	}
	desc, err := plain.DescribeWorkflowExecution(ctx, id1, "")
	if err != nil {
		t.Fatal(err)
	}
	if m := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()["NovaflowMethod"]; !bytes.Contains(m.GetData(), []byte("echo")) {
		t.Errorf("search attribute NovaflowMethod = %q, want echo in plain text", m.GetData())
	}

	// A typed error: its message (which quotes the request) is encoded too;
	// its type stays; the caller reads both.
	err = rc1.Call(ctx, topic, "refuse", codecEchoRequest{Secret: secret1}, nil, rpc.RequestID("two"))
	var me *managers.Error
	if !errors.As(err, &me) || me.Type != "InvalidArgument" || !strings.Contains(err.Error(), secret1) {
		t.Fatalf("refuse: %v, want InvalidArgument quoting the request", err)
	}
	raw = rawHistory(t, plain, srv.Namespace(), rpc.WorkflowID(topic, "refuse", "", "two"))
	if bytes.Contains(raw, []byte(secret1)) {
		t.Error("the stored history of a failed call holds the request")
	}
	if !bytes.Contains(raw, []byte("Encoded failure")) || !bytes.Contains(raw, []byte("InvalidArgument")) {
		t.Error(`the failed call's history lacks "Encoded failure" with type InvalidArgument`)
	}

	// A schedule's action arguments go through the connection's codec.
	schedID := testenv.UniqueName(t, "codec-sched")
	if _, err := tc1.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: schedID, Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}}, Paused: true,
		Action: &client.ScheduleWorkflowAction{ID: schedID, Workflow: "nothing", TaskQueue: topic, Args: []any{codecEchoRequest{Secret: secret1}}},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.ScheduleClient().GetHandle(ctx, schedID).Delete(ctx) })
	for c, wantPlain := range map[client.Client]bool{plain: false, tc1: true} {
		d, err := c.ScheduleClient().GetHandle(ctx, schedID).Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		arg := d.Schedule.Action.(*client.ScheduleWorkflowAction).Args[0].(*commonpb.Payload)
		if got := bytes.Contains(arg.GetData(), []byte(secret1)); got != wantPlain {
			t.Errorf("schedule argument read with codec %v: plain %v (%s)", wantPlain, got, arg.GetMetadata()[converter.MetadataEncoding])
		}
	}

	// Rotation: k2 becomes current; calls made under k1 stay readable.
	svc.Stop(ctx)
	tc2, rc2 := caller(config("h1", ring2))
	svc = startService(config("h1", ring2), tc2)
	defer svc.Stop(ctx)
	const secret2 = "s3cret-request-field-two"
	if err := rc2.Call(ctx, topic, "echo", codecEchoRequest{Secret: secret2}, &resp, rpc.RequestID("three")); err != nil || resp.Out != "result-of-"+secret2 {
		t.Fatalf("call after rotation: %q, %v", resp.Out, err)
	}
	id3 := rpc.WorkflowID(topic, "echo", "", "three")
	raw = rawHistory(t, plain, srv.Namespace(), id3)
	if !bytes.Contains(raw, []byte(`"k2"`)) && !bytes.Contains(raw, []byte("k2")) || bytes.Contains(raw, []byte(secret2)) {
		t.Error("the call after rotation is not encrypted with k2")
	}
	// A durable call to a service of the caller's own process starts
	// eagerly: its first workflow task comes back in the start's reply.
	rc2.AddLocal(topic, "h1", svc.Manager().RPCMethods())
	const secret4 = "s3cret-request-field-eager"
	if err := rc2.Call(ctx, topic, "echo", codecEchoRequest{Secret: secret4}, &resp, rpc.ToHost("h1"), rpc.RequestID("four")); err != nil || resp.Out != "result-of-"+secret4 {
		t.Fatalf("eager call: %q, %v", resp.Out, err)
	}
	raw = rawHistory(t, plain, srv.Namespace(), rpc.WorkflowID(topic, "echo", "h1", "four"))
	if enc, pl := encryptedPayloads(t, raw); bytes.Contains(raw, []byte(secret4)) || enc < 3 || pl != 0 {
		t.Errorf("the eager call's history: %d encrypted, %d plain payloads, holds the request: %v", enc, pl, bytes.Contains(raw, []byte(secret4)))
	}
	var old codecEchoResponse
	if err := tc2.GetWorkflow(ctx, id1, "").Get(ctx, &old); err != nil || old.Out != "result-of-"+secret1 {
		t.Fatalf("the rotated ring reads the result of k1: %q, %v", old.Out, err)
	}
	// A ring without k1 cannot, and says which key is missing.
	tc3, _ := caller(config("caller", onlyK2))
	err = tc3.GetWorkflow(ctx, id1, "").Get(ctx, &old)
	var unknown *codec.UnknownKeyError
	if !strings.Contains(fmt.Sprint(err), `key id "k1"`) && !errors.As(err, &unknown) {
		t.Fatalf("a ring without k1: %v, want an error naming k1", err)
	}

	// The codec server and the pinned temporal CLI.
	tokenFile := filepath.Join(t.TempDir(), "token")
	const token = "codec-token-0123456789"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	scfg := config("codec", ring2)
	scfg.CodecServerAddress, scfg.CodecServerTokenFile = "127.0.0.1:0", tokenFile
	sctx, stop := context.WithCancel(ctx)
	addr := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- serveCodec(sctx, scfg, discardLogger(), func(a string) { addr <- a }) }()
	var endpoint string
	select {
	case a := <-addr:
		endpoint = "http://" + a
	case err := <-served:
		t.Fatalf("codec server: %v", err)
	}
	defer func() {
		stop()
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("codec server stop: %v", err)
		}
	}()
	cli, err := devstack.TemporalCLI(ctx, nil)
	if err != nil {
		t.Fatalf("temporal CLI: %v", err)
	}
	show := func(extra ...string) (string, error) {
		id := id1
		if extra[0] == "refused" {
			id, extra = rpc.WorkflowID(topic, "refuse", "", "two"), extra[1:]
		}
		if len(extra) > 0 && extra[0] == "" {
			extra = extra[1:]
		}
		args := append([]string{"workflow", "show", "--address", srv.Address(), "--namespace", srv.Namespace(), "-w", id, "-o", "json"}, extra...)
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := exec.CommandContext(cctx, cli, args...).CombinedOutput()
		return string(out) + "\n" + base64Fields(out), err
	}
	out, err := show("")
	if err != nil || strings.Contains(out, secret1) || !strings.Contains(out, codec.Encoding) {
		t.Errorf("temporal workflow show without the codec: %v, holds the request: %v\n%s", err, strings.Contains(out, secret1), out)
	}
	out, err = show("--codec-endpoint", endpoint, "--codec-auth", "Bearer "+token)
	if err != nil || !strings.Contains(out, secret1) || !strings.Contains(out, "result-of-"+secret1) {
		t.Errorf("temporal workflow show --codec-endpoint: %v, want the decoded request and result\n%s", err, out)
	}
	// A failure's message: in its encoded attributes, which the CLI decodes
	// (as a payload) but does not move back into the message.
	out, err = show("refused", "--codec-endpoint", endpoint, "--codec-auth", "Bearer "+token)
	if err != nil || !strings.Contains(out, secret1) || !strings.Contains(out, "Encoded failure") {
		t.Errorf("temporal workflow show --codec-endpoint of the failed call: %v, want the message in the decoded encodedAttributes\n%s", err, out)
	}
	out, err = show("--codec-endpoint", endpoint, "--codec-auth", "Bearer wrong-token")
	if err == nil || strings.Contains(out, secret1) {
		t.Errorf("a wrong token: %v\n%s", err, out)
	}
}

// base64Fields is the text of the base64 values of the temporal CLI's JSON
// output (payloads' data and metadata), one a line.
func base64Fields(out []byte) string {
	var b strings.Builder
	for _, m := range regexp.MustCompile(`"([A-Za-z0-9+/]+=*)"`).FindAllSubmatch(out, -1) {
		if d, err := base64.StdEncoding.DecodeString(string(m[1])); err == nil {
			b.Write(d)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// TestCodecSettings: a bad key ring or codec server setting is a
// *worker.ConfigError naming the setting, at LoadConfig (every command and
// service) or at codec-server's start, and never quotes a key or the token.
func TestCodecSettings(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := newAESKey(t)
	good := writeRing(t, "good.json", "k1", map[string]string{"k1": key})
	for _, c := range []struct{ name, ring, want string }{
		{"missing", filepath.Join(dir, "none.json"), "no such file"},
		{"not json", file("bad.json", "k1="+key), "invalid JSON"},
		{"short key", writeRing(t, "short.json", "k1", map[string]string{"k1": base64.StdEncoding.EncodeToString([]byte("short"))}), `key "k1": 5 bytes, want 32`},
		{"unknown current", writeRing(t, "cur.json", "k2", map[string]string{"k1": key}), `current key "k2" is not among the keys`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := worker.LoadConfig(worker.Env{"NOVAFLOW_HOST": "h1", "NOVAFLOW_PAYLOAD_KEYS_FILE": c.ring})
			var ce *worker.ConfigError
			if !errors.As(err, &ce) || ce.Setting != "NOVAFLOW_PAYLOAD_KEYS_FILE" || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), key) {
				t.Fatalf("error %v, want a ConfigError naming NOVAFLOW_PAYLOAD_KEYS_FILE: %s", err, c.want)
			}
		})
	}
	t.Run("binary", func(t *testing.T) {
		t.Setenv("NOVAFLOW_PAYLOAD_KEYS_FILE", file("garbage.json", "\x00\x01"))
		code, _, errOut := run(t, "config")
		if code != 1 || !strings.HasPrefix(errOut, "novaflow: NOVAFLOW_PAYLOAD_KEYS_FILE: ") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("command without keys", func(t *testing.T) {
		t.Setenv("NOVAFLOW_PAYLOAD_KEYS_FILE", "")
		code, _, errOut := run(t, "codec-server")
		if code != 1 || !strings.HasPrefix(errOut, "novaflow: NOVAFLOW_PAYLOAD_KEYS_FILE: not set") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})

	cfg, err := worker.LoadConfig(worker.Env{"NOVAFLOW_HOST": "h1", "NOVAFLOW_PAYLOAD_KEYS_FILE": good})
	if err != nil {
		t.Fatal(err)
	}
	const token = "codec-token-0123456789"
	for _, c := range []struct {
		name    string
		edit    func(*worker.Config)
		setting string
	}{
		{"no keys", func(c *worker.Config) { c.PayloadKeysFile = "" }, "NOVAFLOW_PAYLOAD_KEYS_FILE"},
		{"no token", func(c *worker.Config) { c.CodecServerTokenFile = "" }, "NOVAFLOW_CODEC_SERVER_TOKEN_FILE"},
		{"missing token", func(c *worker.Config) { c.CodecServerTokenFile = filepath.Join(dir, "none") }, "NOVAFLOW_CODEC_SERVER_TOKEN_FILE"},
		{"short token", func(c *worker.Config) { c.CodecServerTokenFile = file("short", "abc\n") }, "NOVAFLOW_CODEC_SERVER_TOKEN_FILE"},
		{"two lines", func(c *worker.Config) { c.CodecServerTokenFile = file("two", token+"\n"+token+"\n") }, "NOVAFLOW_CODEC_SERVER_TOKEN_FILE"},
		{"bad origin", func(c *worker.Config) { c.CodecServerOrigins = "localhost:8233" }, "NOVAFLOW_CODEC_SERVER_ORIGINS"},
		{"bad address", func(c *worker.Config) { c.CodecServerAddress = "nowhere:-1" }, "NOVAFLOW_CODEC_SERVER_ADDRESS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cc := cfg
			cc.CodecServerTokenFile = file("token", token+"\n")
			c.edit(&cc)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := serveCodec(ctx, cc, discardLogger(), func(string) {})
			var ce *worker.ConfigError
			if !errors.As(err, &ce) || ce.Setting != c.setting || strings.Contains(err.Error(), token) {
				t.Fatalf("error %v, want a ConfigError naming %s", err, c.setting)
			}
		})
	}
}

// TestCodecServerTokens: with NOVAFLOW_AUTH on, the codec server takes the
// tokens of its issuer that the policy allows (codec:decode, codec:encode,
// default rule:admin) and refuses forged, expired and wrong-audience ones;
// the static token still works beside them.
func TestCodecServerTokens(t *testing.T) {
	dir := t.TempDir()
	keyFile, jwks, err := auth.GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://issuer.test"
	issue := func(key string, c auth.Claims) string {
		t.Helper()
		if c.Issuer == "" {
			c.Issuer = issuer
		}
		if c.Audience == "" {
			c.Audience = "novaflow"
		}
		if c.TTL == 0 {
			c.TTL = time.Hour
		}
		tok, err := auth.Issue(key, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	const static = "codec-token-0123456789"
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(static+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := func(policyFile string) string {
		cfg := worker.DefaultConfig()
		cfg.Host = "codec"
		cfg.PayloadKeysFile = writeRing(t, "ring.json", "k1", map[string]string{"k1": newAESKey(t)})
		cfg.CodecServerAddress, cfg.CodecServerTokenFile = "127.0.0.1:0", tokenFile
		cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer, cfg.AuthPolicyFile = true, jwks, issuer, policyFile
		ctx, stop := context.WithCancel(context.Background())
		addr, served := make(chan string, 1), make(chan error, 1)
		go func() { served <- serveCodec(ctx, cfg, discardLogger(), func(a string) { addr <- a }) }()
		t.Cleanup(func() { stop(); <-served })
		select {
		case a := <-addr:
			return "http://" + a
		case err := <-served:
			t.Fatalf("codec server: %v", err)
		}
		return ""
	}
	try := func(endpoint, op, token string) error {
		pc := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: endpoint, ModifyRequest: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+token)
			return nil
		}})
		p, _ := converter.GetDefaultDataConverter().ToPayload("x")
		if op == "encode" {
			_, err := pc.Encode([]*commonpb.Payload{p})
			return err
		}
		_, err := pc.Decode([]*commonpb.Payload{p})
		return err
	}
	admin := issue(keyFile, auth.Claims{Subject: "alice", ProjectID: "p1", Roles: []string{"admin"}})
	member := issue(keyFile, auth.Claims{Subject: "bob", ProjectID: "p1", Roles: []string{"member"}})

	defaults := serve("")
	for _, c := range []struct {
		name, op, token, want string // want: "" allowed, else in the error
	}{
		{"admin decodes", "decode", admin, ""},
		{"admin encodes", "encode", admin, ""},
		{"static token", "decode", static, ""},
		{"member may not decode", "decode", member, `Forbidden: PolicyDenied: rule "admin"`},
		{"forged", "decode", issue(otherKey, auth.Claims{Subject: "mallory", Roles: []string{"admin"}}), "Unauthorized"},
		{"expired", "decode", issue(keyFile, auth.Claims{Subject: "alice", Roles: []string{"admin"}, TTL: -time.Minute}), "Unauthorized"},
		{"wrong audience", "decode", issue(keyFile, auth.Claims{Subject: "alice", Roles: []string{"admin"}, Audience: "other"}), "wrong audience"},
		{"wrong issuer", "decode", issue(keyFile, auth.Claims{Subject: "alice", Roles: []string{"admin"}, Issuer: "https://other.test"}), "wrong issuer"},
		{"not a token", "decode", "garbage", "Unauthorized"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := try(defaults, c.op, c.token)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}

	// A policy that lets members decode, not encode.
	pf := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pf, []byte(`"codec:decode": "role:member or rule:admin"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	custom := serve(pf)
	if err := try(custom, "decode", member); err != nil {
		t.Errorf("member decode under codec:decode: %v", err)
	}
	if err := try(custom, "encode", member); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("member encode: %v, want Forbidden by the default rule", err)
	}
}

// TestPayloadCodecWithAuth: with authorization on too, a call carries its
// caller's token in a header; the codec encrypts that header, so the stored
// history holds neither the request nor the token (a bearer token in plain
// text there would let any reader of the namespace replay it), and the
// service still verifies the token.
func TestPayloadCodecWithAuth(t *testing.T) {
	srv := testenv.Temporal(t)
	dbURL := testenv.Postgres(t)
	ctx := context.Background()
	topic := testenv.UniqueName(t, "codecauth")
	managers.Register(managers.Definition{Name: topic, Topic: topic, Version: 1,
		New: func(managers.Deps) (managers.Manager, error) { return codecTestManager{}, nil }})
	dir := t.TempDir()
	keyFile, jwks, err := auth.GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://issuer.test"
	issue := func(sub string, roles ...string) string {
		tok, err := auth.Issue(keyFile, auth.Claims{Issuer: issuer, Audience: "novaflow", Subject: sub, ProjectID: "p1", Roles: roles, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ring := writeRing(t, "ring.json", "k1", map[string]string{"k1": newAESKey(t)})
	config := func(host, token string) worker.Config {
		cfg := worker.DefaultConfig()
		cfg.Host, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL = host, srv.Address(), srv.Namespace(), dbURL
		cfg.PayloadKeysFile, cfg.GracefulShutdownTimeout = ring, time.Second
		cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer, cfg.Token = true, jwks, issuer, token
		return cfg
	}
	svc, err := worker.Create(config("h1", issue("novaflow-service", "service")), worker.Options{Topic: topic, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(ctx)
	userToken := issue("alice", "admin", "member")
	tc, err := worker.Dial(ctx, config("caller", userToken), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	rc, err := rpc.New(rpc.Options{Temporal: tc})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cret-request-with-auth"
	var resp codecEchoResponse
	if err := rc.Call(ctx, topic, "echo", codecEchoRequest{Secret: secret}, &resp, rpc.RequestID("one")); err != nil || resp.Out != "result-of-"+secret {
		t.Fatalf("call with a token: %q, %v", resp.Out, err)
	}
	raw := rawHistory(t, srv.Client(t), srv.Namespace(), rpc.WorkflowID(topic, "echo", "", "one"))
	signature := userToken[strings.LastIndexByte(userToken, '.')+1:]
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(signature)) {
		t.Errorf("the stored history holds the request (%v) or the caller's token (%v)", bytes.Contains(raw, []byte(secret)), bytes.Contains(raw, []byte(signature)))
	}
	if !bytes.Contains(raw, []byte(auth.HeaderKey)) {
		t.Errorf("the history has no %s header: the token did not travel", auth.HeaderKey)
	}
	// The service still checks it: a forged token is refused.
	forgedKey, _, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	forged, err := auth.Issue(forgedKey, auth.Claims{Issuer: issuer, Audience: "novaflow", Subject: "mallory", Roles: []string{"admin"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	err = rc.Call(auth.WithToken(ctx, forged), topic, "echo", codecEchoRequest{Secret: secret}, &resp, rpc.RequestID("two"))
	var me *managers.Error
	if !errors.As(err, &me) || me.Type != "Unauthenticated" {
		t.Fatalf("forged token: %v, want Unauthenticated", err)
	}
}
