package worker

import (
	"context"
	"strings"

	"go.temporal.io/sdk/interceptor"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/workflows"
)

// tokenSource returns the token this process's calls present when their
// context carries no caller's token (NOVAFLOW_TOKEN, or NOVAFLOW_TOKEN_FILE
// read again at each call), or nil when there is none.
func (c Config) tokenSource() func() string {
	if c.TokenFile != "" {
		read := apiKeyFile(c.TokenFile, c.Token)
		return func() string {
			tok, _ := read(context.Background())
			return tok
		}
	}
	if c.Token == "" {
		return nil
	}
	tok := c.Token
	return func() string { return tok }
}

// loadAuthz reads the authorization settings: the key set (a URL is fetched
// now) and the policy file. Errors name the setting.
func (c Config) loadAuthz(ctx context.Context) (*auth.Verifier, *policy.Policy, error) {
	if !c.Auth {
		return nil, nil, nil
	}
	v, err := auth.NewVerifier(ctx, auth.VerifierConfig{
		JWKS: c.AuthJWKS, Issuer: c.AuthIssuer, Audience: c.AuthAudience,
		UserClaim: c.AuthUserClaim, ProjectClaim: c.AuthProjectClaim, RolesClaim: c.AuthRolesClaim,
	})
	if err != nil {
		return nil, nil, &ConfigError{Setting: "NOVAFLOW_AUTH_JWKS", Err: err}
	}
	p := policy.Default()
	if c.AuthPolicyFile != "" {
		if p, err = policy.Load(c.AuthPolicyFile); err != nil {
			return nil, nil, &ConfigError{Setting: "NOVAFLOW_AUTH_POLICY_FILE", Err: err}
		}
	}
	return v, p, nil
}

// interceptors are the interceptors of the service's Temporal workers: the
// authorization check (auth.Enforcer) when NOVAFLOW_AUTH is on.
func (s *Service) interceptors() []interceptor.WorkerInterceptor {
	if s.verifier == nil {
		return nil
	}
	owner, _ := s.mgr.(managers.Owner)
	topic := s.topic
	return []interceptor.WorkerInterceptor{auth.NewEnforcer(auth.EnforcerOptions{
		Verifier: s.verifier, Policy: s.policy, Topic: topic, Methods: s.mgr.RPCMethods(), Owner: owner, Logger: s.logger,
		// The framework's own runs: the status report and the periodic
		// tasks, started by their schedules, and the services table they
		// read. They take no caller input (docs/security.md).
		Exempt: func(name string) bool {
			return name == workflows.ReportStateName(topic) || name == workflows.ReportAliveName(topic) ||
				name == workflows.UpHostsName || strings.HasPrefix(name, workflows.PeriodicName(topic, ""))
		},
	})}
}
