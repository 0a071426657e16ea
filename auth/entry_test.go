package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/policy"
)

// TestVerifyEntered: the time logic of a call whose token expired after it
// entered. A token is accepted when it is the token the entry carried, was
// valid at the entry (issued before it, not expired at it) and the call is
// no older than the maximum; each refusal says which failed.
func TestVerifyEntered(t *testing.T) {
	key, jwks, err := GenerateKey(t.TempDir())
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
	issued := time.Now().Truncate(time.Second) // iat and exp have one-second resolution
	good := Claims{Issuer: "iss", Audience: "novaflow", Subject: "alice", ProjectID: "A", Roles: []string{"member"}, TTL: time.Hour}
	issue := func(key string, mod func(*Claims)) string {
		c := good
		if mod != nil {
			mod(&c)
		}
		tok, err := Issue(key, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok, forged, wrongAud := issue(key, nil), issue(other, nil), issue(key, func(c *Claims) { c.Audience = "else" })
	exp := issued.Add(time.Hour) // within a second
	const maxAge = 24 * time.Hour
	for name, tc := range map[string]struct {
		token   string
		entry   Entry
		now     time.Time
		maxAge  time.Duration
		refused string // "" = accepted
	}{
		"entered a minute after issue, runs a step 2 h later": {
			token: tok, entry: Entry{Time: issued.Add(time.Minute), Token: tok}, now: issued.Add(2 * time.Hour)},
		"entered just before exp, runs a step 23 h later": {
			token: tok, entry: Entry{Time: exp.Add(-2 * time.Second), Token: tok}, now: exp.Add(23 * time.Hour)},
		"entered within the leeway after exp": {
			token: tok, entry: Entry{Time: exp.Add(20 * time.Second), Token: tok}, now: exp.Add(time.Hour)},
		"entered after exp": {
			token: tok, entry: Entry{Time: exp.Add(time.Minute), Token: tok, WorkflowID: "wf"}, now: exp.Add(2 * time.Minute),
			refused: "before its call entered"},
		"older than the maximum": {
			token: tok, entry: Entry{Time: issued.Add(time.Minute), Token: tok}, now: issued.Add(time.Minute + maxAge + time.Second),
			refused: "NOVAFLOW_AUTH_MAX_CALL_AGE=24h0m0s"},
		"older than a small maximum": {
			token: tok, entry: Entry{Time: issued.Add(time.Minute), Token: tok}, now: issued.Add(time.Minute + 2*time.Hour + time.Second), maxAge: 2 * time.Hour,
			refused: "maximum call age"},
		"entered before the token was issued": {
			token: tok, entry: Entry{Time: issued.Add(-10 * time.Minute), Token: tok}, now: issued.Add(2 * time.Hour),
			refused: "at its call's entry"},
		"the entry carried another token": {
			token: tok, entry: Entry{Time: issued.Add(time.Minute), Token: issue(key, func(c *Claims) { c.Subject = "bob" })}, now: issued.Add(2 * time.Hour),
			refused: "not the token its call entered with"},
		"the entry carried none": {
			token: tok, entry: Entry{Time: issued.Add(time.Minute)}, now: issued.Add(2 * time.Hour),
			refused: "carries none"},
		"no token": {
			entry: Entry{Time: issued.Add(time.Minute)}, now: issued.Add(2 * time.Hour),
			refused: "not the token its call entered with"},
		"signed by another key": {
			token: forged, entry: Entry{Time: issued.Add(time.Minute), Token: forged}, now: issued.Add(2 * time.Hour),
			refused: "no key of the JWKS verifies it"},
		"wrong audience": {
			token: wrongAud, entry: Entry{Time: issued.Add(time.Minute), Token: wrongAud}, now: issued.Add(2 * time.Hour),
			refused: "wrong audience"},
	} {
		if tc.maxAge == 0 {
			tc.maxAge = maxAge
		}
		c, err := v.VerifyEntered(tc.token, tc.entry, tc.maxAge, tc.now)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case tc.refused == "" && (c.UserID != "alice" || c.ProjectID != "A"):
			t.Errorf("%s: credentials %+v", name, c)
		case tc.refused != "" && err == nil:
			t.Errorf("%s: accepted, want refused (%s)", name, tc.refused)
		case tc.refused != "":
			if me, ok := managers.AsError(err); !ok || me.Type != policy.UnauthenticatedType || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("%s: %v, want Unauthenticated saying %q", name, err, tc.refused)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("%s: the refusal quotes the token", name)
			}
		}
	}
}

// TestVerifyExpiredOnly: Verify tells a token refused for its expiry alone
// (the only refusal VerifyEntered may overturn) from one refused for
// anything else as well.
func TestVerifyExpiredOnly(t *testing.T) {
	key, jwks, err := GenerateKey(t.TempDir())
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
	for name, tc := range map[string]struct {
		key     string
		claims  Claims
		expired bool
	}{
		"expired":                {key, Claims{Issuer: "iss", Audience: "novaflow", TTL: -time.Hour}, true},
		"valid":                  {key, Claims{Issuer: "iss", Audience: "novaflow", TTL: time.Hour}, false},
		"expired, wrong issuer":  {key, Claims{Issuer: "else", Audience: "novaflow", TTL: -time.Hour}, false},
		"expired, wrong aud":     {key, Claims{Issuer: "iss", Audience: "else", TTL: -time.Hour}, false},
		"expired, another's key": {other, Claims{Issuer: "iss", Audience: "novaflow", TTL: -time.Hour}, false},
	} {
		tok, err := Issue(tc.key, tc.claims)
		if err != nil {
			t.Fatal(err)
		}
		_, expired, err := v.verify(tok)
		if expired != tc.expired || (err == nil) != (name == "valid") {
			t.Errorf("%s: expired %v, err %v; want expired %v", name, expired, err, tc.expired)
		}
	}
}

// TestStartToken: an entry's token is its start's header, else its memo.
func TestStartToken(t *testing.T) {
	dc := converter.GetDefaultDataConverter()
	p := func(s string) *commonpb.Payload {
		pl, err := dc.ToPayload(s)
		if err != nil {
			t.Fatal(err)
		}
		return pl
	}
	for name, tc := range map[string]struct {
		header, memo map[string]*commonpb.Payload
		want         string
	}{
		"header":              {map[string]*commonpb.Payload{HeaderKey: p("h")}, nil, "h"},
		"memo":                {nil, map[string]*commonpb.Payload{MemoKey: p("m")}, "m"},
		"header before memo":  {map[string]*commonpb.Payload{HeaderKey: p("h")}, map[string]*commonpb.Payload{MemoKey: p("m")}, "h"},
		"none":                {nil, nil, ""},
		"another header only": {map[string]*commonpb.Payload{"other": p("x")}, nil, ""},
	} {
		if got := startToken(tc.header, tc.memo); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}
