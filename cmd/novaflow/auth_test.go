package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/novaflow/novaflow/auth"
)

// TestAuthToken: novaflow auth token signs with the dev stack's key a token
// its verifier accepts, with the claims asked for; -o json shows them; a
// missing user or a bad TTL is a usage error, a folder without the key says
// to start dev --auth.
func TestAuthToken(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := devKey(dir); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := auth.Claims{Issuer: devIssuer, Audience: devAudience, Subject: "alice", ProjectID: "a", Roles: []string{"member", "reader"}, TTL: time.Hour}
	if err := printToken(&out, dir, formatTable, c); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(context.Background(), auth.VerifierConfig{JWKS: dir + "/" + auth.DevJWKSFile, Issuer: devIssuer, Audience: devAudience})
	if err != nil {
		t.Fatal(err)
	}
	first := strings.TrimSpace(out.String())
	creds, err := v.Verify(first)
	if err != nil || creds.UserID != "alice" || creds.ProjectID != "a" || !creds.HasRole("reader") {
		t.Errorf("token's credentials %+v, %v", creds, err)
	}
	out.Reset()
	if err := printToken(&out, dir, formatJSON, c); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc["user"] != "alice" || doc["project_id"] != "a" || doc["token"] == "" {
		t.Errorf("-o json: %s (%v)", out.String(), err)
	}
	for name, tc := range map[string]struct {
		dir  string
		c    auth.Claims
		want string
	}{
		"no user": {dir, auth.Claims{TTL: time.Hour}, "--user"},
		"bad ttl": {dir, auth.Claims{Subject: "a", TTL: -time.Second}, "--ttl"},
		"no key":  {t.TempDir(), c, "novaflow dev --auth"},
	} {
		err := printToken(&out, tc.dir, formatTable, tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %s", name, err, tc.want)
		}
		var ue usageError
		if isUsage := errors.As(err, &ue); isUsage != (name != "no key") {
			t.Errorf("%s: usage error %v, want %v", name, isUsage, name != "no key")
		}
	}
	// dev keeps its key across runs: a token made before still verifies.
	if _, _, err := devKey(dir); err != nil {
		t.Fatal(err)
	}
	v2, err := auth.NewVerifier(context.Background(), auth.VerifierConfig{JWKS: dir + "/" + auth.DevJWKSFile, Issuer: devIssuer, Audience: devAudience})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Verify(first); err != nil {
		t.Errorf("a token of the key before devKey ran again: %v", err)
	}
}
