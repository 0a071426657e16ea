package worker

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/testenv"
)

// TestStopEndsJWKSRefresh: a service whose NOVAFLOW_AUTH_JWKS is a URL
// fetches the key set and refreshes it in a goroutine of its own (keyfunc's
// storage); Stop ends that goroutine, for a service that never started too,
// instead of leaving it for the life of the process.
func TestStopEndsJWKSRefresh(t *testing.T) {
	_, jwksFile, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := os.ReadFile(jwksFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	defer srv.Close()
	jwksHTTPClient = srv.Client()
	t.Cleanup(func() { jwksHTTPClient = nil })
	refreshing := func() int {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		count := 0
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "jwkset.NewStorageFromHTTP") {
				count++
			}
		}
		return count
	}
	before := refreshing()

	cfg := DefaultConfig()
	cfg.Host, cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer = "h1", true, srv.URL+"/jwks.json", "https://issuer.test"
	svc, err := Create(cfg, Options{Topic: lifecycleTopic, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := refreshing(); got != before+1 {
		t.Fatalf("%d goroutines refresh a JWKS after Create, want %d", got, before+1)
	}
	svc.Stop(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for refreshing() != before {
		if time.Now().After(deadline) {
			t.Fatalf("the JWKS refresh goroutine still runs 5 s after Stop (%d, want %d)", refreshing(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAuthJWKSChecked: NOVAFLOW_AUTH_JWKS over plain http:// is refused by
// the settings' check (anyone on the path could swap the keys and forge
// tokens); an https:// URL that cannot be fetched, or serves no key set,
// stops Create with one line naming the setting, instead of a service that
// starts and refuses every call.
func TestAuthJWKSChecked(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Host, cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer = "h1", true, "http://id.example/jwks.json", "https://issuer.test"
	var ce *ConfigError
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Setting != "NOVAFLOW_AUTH_JWKS" || !strings.Contains(err.Error(), "http://") {
		t.Errorf("Validate with an http:// JWKS = %v, want a ConfigError naming NOVAFLOW_AUTH_JWKS", err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty.json" {
			_, _ = w.Write([]byte(`{"keys":[]}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	jwksHTTPClient = srv.Client()
	t.Cleanup(func() { jwksHTTPClient = nil })
	for _, u := range []string{srv.URL + "/wrong.json", srv.URL + "/empty.json"} {
		cfg.AuthJWKS = u
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		svc, err := Create(cfg, Options{Topic: lifecycleTopic, Logger: testLogger(t)})
		if err == nil {
			svc.Stop(context.Background())
		}
		if !errors.As(err, &ce) || ce.Setting != "NOVAFLOW_AUTH_JWKS" || strings.Contains(err.Error(), "\n") {
			t.Errorf("Create with JWKS %s = %q, want one line naming NOVAFLOW_AUTH_JWKS", u, err)
		}
	}
}

// TestPeriodicUnderAuthorization: with authorization on, a periodic task's
// schedule runs it (its runs carry no token: the schedule started them, as
// its record shows), and so does a trigger of the schedule; a run for a host
// started by hand (novaflow service run-periodic --host) is refused on the
// host without a token, with PolicyDenied naming novaflow:framework, and
// runs with a service's token.
func TestPeriodicUnderAuthorization(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	key, jwks, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://issuer.test"
	service, err := auth.Issue(key, auth.Claims{Issuer: issuer, Audience: "novaflow", Subject: "svc", Roles: []string{"service"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.config(testenv.UniqueName(t, "host"))
	cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer, cfg.Token = true, jwks, issuer, service
	var every, hourly runLog
	h.start(cfg, every.task("every_second", time.Second, nil), hourly.task("hourly", time.Hour, nil))
	took := eventually(t, 20*time.Second, "3 scheduled runs", func() bool { return every.count() >= 3 })
	t.Logf("3 scheduled runs of a 1s task under authorization in %s", took.Round(time.Millisecond))

	// By hand, without a token: refused on the host, the task does not run.
	got, err := TriggerPeriodic(ctx, h.c, h.topic, cfg.Host, "hourly")
	if err != nil || len(got) != 1 {
		t.Fatalf("TriggerPeriodic on %s = %+v, %v", cfg.Host, got, err)
	}
	res := h.runResult(got[0].ID, "")
	if res.Ran != 0 || res.Failed != 1 || len(res.Failures) != 1 || res.Failures[0].Type != policy.DeniedType ||
		!strings.Contains(res.Failures[0].Message, policy.FrameworkRule) {
		t.Errorf("a run by hand without a token: %+v, want it refused with PolicyDenied naming %s", res, policy.FrameworkRule)
	}
	if hourly.count() != 0 {
		t.Errorf("the task ran %d times after a refused run", hourly.count())
	}

	// With a service's token it runs.
	svcClient, err := client.Dial(client.Options{HostPort: h.tmp.Address(), Namespace: h.tmp.Namespace(),
		ContextPropagators: []workflow.ContextPropagator{auth.Propagator{Default: func() string { return service }}}})
	if err != nil {
		t.Fatal(err)
	}
	defer svcClient.Close()
	if got, err = TriggerPeriodic(ctx, svcClient, h.topic, cfg.Host, "hourly"); err != nil || len(got) != 1 {
		t.Fatalf("TriggerPeriodic with a service token = %+v, %v", got, err)
	}
	if res := h.runResult(got[0].ID, ""); res.Ran != 1 || hourly.count() != 1 {
		t.Errorf("a run by hand with a service's token: %+v (ran %d times), want it run", res, hourly.count())
	}
	// A trigger of the schedule is the schedule's run.
	if _, err := TriggerPeriodic(ctx, h.c, h.topic, "", "hourly"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the triggered schedule's run", func() bool { return hourly.count() == 2 })
}
