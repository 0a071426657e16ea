package main

import (
	"context"
	"time"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/worker"
)

// runAuthz measures what authorization (NOVAFLOW_AUTH) adds to a call: h1
// without it, h2 with it, its caller presenting a member's token.
func runAuthz(ctx context.Context, args []string) error {
	return onOff{
		name:  "authz",
		title: "Authorization: Call latency with and without it",
		off:   "novaflow `Call(ToHost(h1))` from another process, authorization off",
		on:    "the same to h2: a member's token (EdDSA) verified and the policy decided in the service",
		setUp: func(dir string) (func(*worker.Config, bool), error) {
			key, jwks, err := auth.GenerateKey(dir)
			if err != nil {
				return nil, err
			}
			issue := func(sub, project, role string) (string, error) {
				return auth.Issue(key, auth.Claims{Issuer: "bench", Audience: "novaflow", Subject: sub, ProjectID: project, Roles: []string{role}, TTL: time.Hour})
			}
			serviceToken, err := issue("service", "", "service")
			if err != nil {
				return nil, err
			}
			memberToken, err := issue("alice", "a", "member")
			if err != nil {
				return nil, err
			}
			return func(cfg *worker.Config, caller bool) {
				cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer, cfg.Token = true, jwks, "bench", serviceToken
				if caller {
					cfg.Token = memberToken // the caller's own
				}
			}, nil
		},
	}.run(ctx, args)
}
