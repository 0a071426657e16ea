package main

import (
	"context"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/worker"
)

// caller is who a command that reads the tables directly acts for, as far
// as authorization can tell.
type caller struct {
	// checked says a token was verified: NOVAFLOW_AUTH is on and a token
	// (NOVAFLOW_TOKEN or _FILE) is given. Unchecked, the command acts with
	// its database credentials, which are admin-equivalent
	// (docs/security.md).
	checked bool
	creds   policy.Credentials
	// admin says the policy's context_is_admin (policy.AdminRule) allows the
	// verified token.
	admin bool
	// adminDecision is that rule's decision, whose Err names the rule.
	adminDecision policy.Decision
}

// verifyCaller verifies the command's token under NOVAFLOW_AUTH with the
// policy the services read (NOVAFLOW_AUTH_POLICY_FILE). A token that does
// not verify is refused (Unauthenticated).
func verifyCaller(ctx context.Context, cfg worker.Config) (caller, error) {
	if !cfg.Auth || cfg.Token == "" {
		return caller{}, nil
	}
	verifier, pol, err := cfg.Authz(ctx)
	if err != nil {
		return caller{}, err
	}
	creds, err := verifier.Verify(cfg.Token)
	if err != nil {
		if me, ok := managers.AsError(err); ok {
			return caller{}, remoteError{e: me}
		}
		return caller{}, err
	}
	d := pol.Check(policy.AdminRule, creds, nil)
	return caller{checked: true, creds: creds, admin: d.Allowed, adminDecision: d}, nil
}

// seesEverything says the caller may read every project's rows and the
// tables of the deployment itself: unchecked, or an admin.
func (c caller) seesEverything() bool { return !c.checked || c.admin }

// requireAdmin refuses a command over the deployment itself (the services
// table, compute hosts) to a verified token that policy.AdminRule does not
// allow, with PolicyDenied naming the rule: nova's default policy gives
// os-services and os-hypervisors to admins only. Without a token to check
// it allows: the database's credentials are admin-equivalent.
func requireAdmin(ctx context.Context, cfg worker.Config) error {
	c, err := verifyCaller(ctx, cfg)
	if err != nil {
		return err
	}
	if c.seesEverything() {
		return nil
	}
	me, _ := managers.AsError(c.adminDecision.Err(c.creds))
	return remoteError{e: &managers.Error{Type: me.Type, Message: me.Message +
		": services and compute hosts are for admins, as nova's os-services and os-hypervisors (docs/security.md)"}}
}
