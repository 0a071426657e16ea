package worker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/testenv"
)

// TestCastOutlivesToken: with authorization on, a cast to a host that is
// down runs as its caller when the host comes back after the caller's token
// expired (NOVAFLOW_AUTH_MAX_CALL_AGE, default 24h: the token was valid when
// the cast entered); on a host with NOVAFLOW_AUTH_MAX_CALL_AGE=0 the same
// cast is refused, Unauthenticated, as the token has expired.
func TestCastOutlivesToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	key, jwks, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://issuer.test"
	issue := func(user string, ttl time.Duration, roles ...string) string {
		tok, err := auth.Issue(key, auth.Claims{Issuer: issuer, Audience: "novaflow", Subject: user, ProjectID: "p", Roles: roles, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	service := issue("svc", time.Hour, "service")
	whoami := managers.NewMethod("whoami", "1.0", func(ctx context.Context, _ struct{}) (string, error) {
		c, ok := policy.CredentialsFrom(ctx)
		if !ok {
			return "", errors.New("no caller")
		}
		return c.UserID, nil
	})
	hosts := map[string]time.Duration{testenv.UniqueName(t, "grace"): DefaultConfig().AuthMaxCallAge, testenv.UniqueName(t, "strict"): 0}
	configs := map[string]Config{}
	for host, age := range hosts {
		testMethods.Store(host, []managers.Method{whoami})
		cfg := h.config(host)
		cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer, cfg.Token, cfg.AuthMaxCallAge = true, jwks, issuer, service, age
		configs[host] = cfg
		// Up once (its row and queues exist), then down.
		h.start(cfg).Stop(ctx)
	}

	users, err := client.Dial(client.Options{HostPort: h.tmp.Address(), Namespace: h.tmp.Namespace(),
		ContextPropagators: []workflow.ContextPropagator{auth.Propagator{}}, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer users.Close()
	rc, err := rpc.New(rpc.Options{Temporal: users})
	if err != nil {
		t.Fatal(err)
	}
	// The services verify with a leeway of 30 s: a token that expired 25 s
	// ago is valid for 5 s more (4 s: exp has one-second resolution).
	alice := issue("alice", -25*time.Second, "member")
	expires := time.Now().Add(5 * time.Second)
	casts := map[string]rpc.Execution{}
	for host := range hosts {
		exec, err := rc.Cast(auth.WithToken(ctx, alice), h.topic, "whoami", struct{}{}, rpc.ToHost(host))
		if err != nil {
			t.Fatalf("cast to %s: %v", host, err)
		}
		casts[host] = exec
	}
	time.Sleep(time.Until(expires) + 500*time.Millisecond)
	for host := range hosts {
		h.start(configs[host])
	}
	for host, age := range hosts {
		var user string
		err := rc.Result(ctx, casts[host], &user)
		t.Logf("cast to %s (NOVAFLOW_AUTH_MAX_CALL_AGE=%s) after its token expired: %q, %v", host, age, user, err)
		if age > 0 {
			if err != nil || user != "alice" {
				t.Errorf("cast to %s: %q, %v; want it run as alice", host, user, err)
			}
			continue
		}
		if me, ok := managers.AsError(err); !ok || me.Type != policy.UnauthenticatedType || !strings.Contains(err.Error(), "expired") {
			t.Errorf("cast to %s with a maximum call age of 0: %v, want Unauthenticated, expired", host, err)
		}
	}
}
