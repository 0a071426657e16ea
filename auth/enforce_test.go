package auth

import (
	"context"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
)

type headerWriter map[string]*commonpb.Payload

func (h headerWriter) Set(k string, p *commonpb.Payload) { h[k] = p }

// TestScheduledRunUsesServiceToken: a framework run its schedule started
// whose header still holds a caller's token (a schedule created with one, an
// expired token) is allowed, and the calls it makes carry the service's own
// token (the Propagator's Default), not the stale one, which would have
// them refused.
func TestScheduledRunUsesServiceToken(t *testing.T) {
	key, jwks, err := GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), VerifierConfig{JWKS: jwks, Issuer: "iss", Audience: "novaflow"})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ttl time.Duration) string {
		tok, err := Issue(key, Claims{Issuer: "iss", Audience: "novaflow", Subject: "svc", Roles: []string{"service"}, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	stale, fresh := issue(-time.Hour), issue(time.Hour)
	e := NewEnforcer(EnforcerOptions{Verifier: v, Topic: "t",
		Framework: func(string) bool { return true },
		Scheduled: func(context.Context) (string, bool, error) { return "periodic:t:h:task", true, nil }})
	for name, tok := range map[string]string{"stale token": stale, "no token": ""} {
		ctx, err := e.AuthorizeFramework(WithToken(context.Background(), tok), "t.periodic.task")
		if err != nil {
			t.Fatalf("%s: a scheduled run refused: %v", name, err)
		}
		if got := TokenFrom(ctx); got != "" {
			t.Errorf("%s: the run's context still carries a caller's token", name)
		}
		h := headerWriter{}
		if err := (Propagator{Default: func() string { return fresh }}).Inject(ctx, h); err != nil {
			t.Fatal(err)
		}
		got, err := get(headerMap(h))
		if err != nil || got != fresh {
			t.Errorf("%s: a call of the scheduled run carries %.20q..., want the service's token", name, got)
		}
	}
}
