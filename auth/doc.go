// Package auth identifies the callers of manager methods and enforces the
// authorization policy (package policy) in the services that run them.
//
// A caller proves who it is with an OIDC-style JWT (any issuer that publishes
// a JWKS: Keystone, Dex, Keycloak, or the local key of `novaflow dev --auth`).
// The token travels with the call in the Temporal workflow header
// HeaderKey, put there by Propagator (a workflow.ContextPropagator on the
// caller's Temporal client: rpc.Client, the novaflow commands, the
// services); calls that a workflow makes carry the token of the caller that
// started it. The temporal CLI, which sets no headers, passes it in the memo
// MemoKey instead:
//
//	temporal workflow start --type compute.reboot_instance --task-queue compute \
//	    --input '{"instance_uuid":"..."}' --memo "NovaflowToken=\"$NOVAFLOW_TOKEN\""
//
// Each service checks every activity it runs (Enforcer, a Temporal worker
// interceptor): the token is verified (signature against the JWKS, issuer,
// audience, expiry), its claims become policy.Credentials, and the method's
// rule decides, before the method (and its driver) runs. A refusal is a
// non-retryable error of type Unauthenticated or PolicyDenied naming the
// rule, logged and counted (metric novaflow.authz.decisions).
//
// A token is judged for its expiry when its call entered: the first start
// of the workflow its caller started, read from the server's history
// (Entries), never from a header. With EnforcerOptions.MaxCallAge, the
// later steps of that call (its activities, child workflows and the calls
// made in workflow code) run as the caller after the token expired, until
// that age (Verifier.VerifyEntered); a call made from an activity is a call
// of its own, judged when it starts.
//
// The framework's own runs (status reports, periodic tasks) carry no token
// when their Schedule started them: such a run checks itself once, at its
// start (workflows.CheckRunName), and the Enforcer's workflow interceptor
// then marks each activity it starts with the run's ID and an HMAC over it
// that the check made with the services' mark key (MarkKey, MarkKeys),
// which the hosts verify and accept instead of a token.
package auth
