package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/policy"
)

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	key, jwks, err := GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), VerifierConfig{JWKS: jwks, Issuer: "iss", Audience: "novaflow"})
	if err != nil {
		t.Fatal(err)
	}
	good := Claims{Issuer: "iss", Audience: "novaflow", Subject: "alice", ProjectID: "A", Roles: []string{"member"}, TTL: time.Hour}
	tok, err := Issue(key, good)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != "alice" || c.ProjectID != "A" || len(c.Roles) != 1 || c.Roles[0] != "member" {
		t.Errorf("credentials %+v", c)
	}

	bad := func(mod func(*Claims)) string {
		cl := good
		mod(&cl)
		s, err := Issue(key, cl)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	forged, err := Issue(other, good)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + strings.TrimRight(jwtSeg(t, `{"sub":"root","roles":["admin"],"iss":"iss","aud":"novaflow","exp":9999999999}`), "=") + "." + parts[2]
	none := jwtSeg(t, `{"alg":"none","typ":"JWT"}`) + "." + jwtSeg(t, `{"sub":"root","iss":"iss","aud":"novaflow","exp":9999999999}`) + "."
	for name, tc := range map[string]struct {
		token, want string
	}{
		"expired":        {bad(func(c *Claims) { c.TTL = -time.Hour }), "expired"},
		"wrong audience": {bad(func(c *Claims) { c.Audience = "other" }), "wrong audience"},
		"wrong issuer":   {bad(func(c *Claims) { c.Issuer = "evil" }), "wrong issuer"},
		"forged":         {forged, "refused"},
		"tampered":       {tampered, "refused"},
		"alg none":       {none, "refused"},
		"garbage":        {"not.a.token", "malformed"},
		"none":           {"", "carries no token"},
	} {
		_, err := v.Verify(tc.token)
		if !errors.Is(err, &managers.Error{Type: policy.UnauthenticatedType}) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want Unauthenticated saying %q", name, err, tc.want)
		}
		if tc.token != "" && strings.Contains(err.Error(), tc.token) {
			t.Errorf("%s: the error quotes the token", name)
		}
	}
}

func jwtSeg(t *testing.T, s string) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func TestClaimNames(t *testing.T) {
	dir := t.TempDir()
	key, jwks, _ := GenerateKey(dir)
	_ = key
	// A Keycloak-style token: roles under realm_access.roles, project in "tenant".
	priv, err := os.ReadFile(filepath.Join(dir, DevKeyFile))
	if err != nil || len(priv) == 0 {
		t.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), VerifierConfig{JWKS: jwks, Issuer: "iss", Audience: "a",
		UserClaim: "preferred_username", ProjectClaim: "tenant", RolesClaim: "realm_access.roles"})
	if err != nil {
		t.Fatal(err)
	}
	tok := signMap(t, key, jwt.MapClaims{"iss": "iss", "aud": []string{"x", "a"}, "exp": time.Now().Add(time.Hour).Unix(),
		"sub": "123", "preferred_username": "bob", "tenant": "T", "realm_access": map[string]any{"roles": []string{"reader", "member"}}})
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != "bob" || c.Subject != "123" || c.ProjectID != "T" || !c.HasRole("member") || !c.HasRole("reader") {
		t.Errorf("credentials %+v", c)
	}
	for _, cfg := range []VerifierConfig{{Issuer: "i", Audience: "a"}, {JWKS: jwks, Audience: "a"}, {JWKS: jwks, Issuer: "i"}, {JWKS: filepath.Join(dir, "missing.json"), Issuer: "i", Audience: "a"}} {
		if _, err := NewVerifier(context.Background(), cfg); err == nil {
			t.Errorf("NewVerifier(%+v) accepted", cfg)
		}
	}
}

// BenchmarkVerify is what a service spends on each call's token: an EdDSA
// signature check and the claims' mapping.
func BenchmarkVerify(b *testing.B) {
	key, jwks, err := GenerateKey(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), VerifierConfig{JWKS: jwks, Issuer: "iss", Audience: "novaflow"})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := Issue(key, Claims{Issuer: "iss", Audience: "novaflow", Subject: "alice", ProjectID: "A", Roles: []string{"member"}, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v.mu.Lock()
			v.cache = nil
			v.mu.Unlock()
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("again", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestVerifyCacheKeepsExpiry: a token verified once (and cached) is refused
// once it expires.
func TestVerifyCacheKeepsExpiry(t *testing.T) {
	key, jwks, err := GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), VerifierConfig{JWKS: jwks, Issuer: "iss", Audience: "novaflow", Leeway: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// exp has one-second resolution: a 3 s TTL leaves the verifications
	// below at least 2 s, however slow the machine, before it expires.
	tok, err := Issue(key, Claims{Issuer: "iss", Audience: "novaflow", Subject: "alice", TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3100 * time.Millisecond) // past exp (at most issue + 3 s)
	if _, err := v.Verify(tok); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired token, verified before: %v, want expired", err)
	}
}
