package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	commonpb "go.temporal.io/api/common/v1"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/workflows"
)

// MetricDecisions counts authorization decisions by topic, method and
// decision (allowed, denied, unauthenticated).
const MetricDecisions = "novaflow.authz.decisions"

// Enforcer checks the activities a service runs. Build it with NewEnforcer
// and give it to the service's Temporal workers as an interceptor.
type Enforcer struct {
	interceptor.WorkerInterceptorBase

	verifier  *Verifier
	policy    *policy.Policy
	topic     string
	methods   map[string]managers.Method // by activity name
	owner     managers.Owner
	framework func(activity string) bool
	scheduled func(ctx context.Context) (string, bool, error)
	entries   *Entries
	keys      *MarkKeys
	maxAge    time.Duration
	logger    *slog.Logger
	counter   metric.Int64Counter
}

// EnforcerOptions configure an Enforcer.
type EnforcerOptions struct {
	Verifier *Verifier
	Policy   *policy.Policy
	// Topic and Methods are the service's: each method's activity
	// <topic>.<method> is decided by the policy.
	Topic   string
	Methods []managers.Method
	// Owner, when set, says who owns a method's object (the target's
	// project_id and user_id).
	Owner managers.Owner
	// Framework says which activities are the framework's own runs (status
	// reports, periodic tasks). They run when Scheduled says their workflow
	// run was started by its Schedule, which stores no token, or when their
	// token's credentials pass policy.FrameworkRule (a service's).
	Framework func(activity string) bool
	// Scheduled, when set, replaces the test of whether the activity of ctx
	// belongs to a workflow run that its Schedule started, and that
	// schedule's ID. Unset, that is the run's mark (MarkKey): its check at
	// its start (workflows.CheckRunName) found it, and the Enforcer's
	// workflow interceptor put the mark, bound to the run's ID, in the
	// header of each activity the run starts. Activities that are not
	// methods of the service (workflows.UpHostsName) run without a token in
	// such a run too.
	Scheduled func(ctx context.Context) (schedule string, ok bool, err error)
	// MarkKeys verify the marks (MarkKey) of the activities, and make those
	// of a marked run's children. Without them no mark passes, and the
	// framework's runs need a token.
	MarkKeys *MarkKeys
	// MaxCallAge, when positive, lets a call go on as its caller after the
	// caller's token expired: an activity whose token has expired runs when
	// that token was valid at the call's entry (the first start of the root
	// of its workflow tree, read by Entries) and the entry is at most
	// MaxCallAge ago (Verifier.VerifyEntered). 0: every activity needs a
	// token unexpired when it runs.
	MaxCallAge time.Duration
	// Entries reads a call's entry; required for MaxCallAge.
	Entries *Entries
	Logger  *slog.Logger
}

// NewEnforcer returns the Enforcer of opts.
func NewEnforcer(opts EnforcerOptions) *Enforcer {
	e := &Enforcer{verifier: opts.Verifier, policy: opts.Policy, topic: opts.Topic, owner: opts.Owner,
		framework: opts.Framework, scheduled: opts.Scheduled, logger: opts.Logger, methods: map[string]managers.Method{},
		entries: opts.Entries, maxAge: opts.MaxCallAge, keys: opts.MarkKeys}
	if e.policy == nil {
		e.policy = policy.Default()
	}
	if e.logger == nil {
		e.logger = slog.Default()
	}
	if e.framework == nil {
		e.framework = func(string) bool { return false }
	}
	if e.scheduled == nil {
		e.scheduled = e.marked
	}
	for _, m := range opts.Methods {
		e.methods[activities.Name(opts.Topic, m.Name)] = m
	}
	c, err := otel.GetMeterProvider().Meter("github.com/novaflow/novaflow/auth").Int64Counter(MetricDecisions,
		metric.WithUnit("{decision}"), metric.WithDescription("Authorization decisions on manager methods, by topic, method and decision"))
	if err != nil {
		otel.Handle(err)
	}
	e.counter = c
	return e
}

var _ interceptor.WorkerInterceptor = (*Enforcer)(nil)

// InterceptActivity checks each activity before it runs.
func (e *Enforcer) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &activityGuard{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, e: e}
}

// InterceptWorkflow makes the memo's token (MemoKey) the workflow's when its
// header carries none, as for an execution the temporal CLI started, and
// marks the activities of a run that its check found the framework's own
// (MarkKey).
func (e *Enforcer) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &workflowGuard{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, e: e}
}

// MarkKey is the activity header that marks an activity of a framework run
// its schedule started (workflows.ScheduledRun): the run's ID, the
// schedule's, and a MAC over them, the run's workflow type and namespace
// made with the services' key (MarkKeys), which a namespace writer does not
// have. The MAC is made by the run's check at its start
// (workflows.CheckRunName, a local activity that runs in a service) when it
// found the run its schedule's, and the workflow keeps it (it is recorded
// in the check's marker). The Enforcer's workflow interceptor writes the
// mark in the header of the activities and local activities a marked run
// starts; the header of a workflow's start (which any client writes) never
// reaches an activity's, since the SDK builds each activity's header anew.
// An activity takes the mark only when its MAC verifies for the run of the
// activity's own task (activity.Info, set by the server: run ID, workflow
// type, namespace) and that run is of a framework workflow type: a mark
// copied from another run, or written by a worker of a namespace writer's
// (whose workflow type may be named as the framework's), does not.
//
// A marked run marks the child runs it starts too (a periodic run over more
// than workflows.MaxHostsPerRun hosts): the mark also holds a second MAC,
// over the run's ID, the schedule and the namespace, which the start of a
// child carries. A child of a framework type takes it only when it
// verifies with its parent's run (workflow.Info.ParentWorkflowExecution,
// set by the server, which no client can), and then marks its own
// activities with a MAC over its own run. Only the interceptor of a
// service, which has the key, makes either, and only for a run whose own
// mark verifies. Every command of a run carries the same mark.
const MarkKey = "novaflow-scheduled-run"

// mark is the value of MarkKey.
type mark struct {
	RunID    string `json:"run_id"`
	Schedule string `json:"schedule"`
	MAC      string `json:"mac,omitempty"`
	// Child is the MAC that lets the run's children mark their activities.
	Child string `json:"child_mac,omitempty"`
}

type workflowGuard struct {
	interceptor.WorkflowInboundInterceptorBase
	e *Enforcer
}

// parentMarkKey holds, in a child run's context, the schedule of the marked
// parent run that started it (its mark verified).
type parentMarkKey struct{}

func (g *workflowGuard) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return g.Next.Init(&markOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, e: g.e})
}

// markOutbound puts MarkKey in the header of the activities and children of
// a marked run.
type markOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	e *Enforcer
}

func (o *markOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.mark(ctx)
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

func (o *markOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.mark(ctx)
	return o.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

func (o *markOutbound) ExecuteChildWorkflow(ctx workflow.Context, childWorkflowType string, args ...any) workflow.ChildWorkflowFuture {
	o.mark(ctx)
	return o.Next.ExecuteChildWorkflow(ctx, childWorkflowType, args...)
}

// mark writes the run's mark in the header of what it starts next: an
// activity or a child run.
func (o *markOutbound) mark(ctx workflow.Context) {
	h := interceptor.WorkflowHeader(ctx)
	if h == nil {
		return
	}
	// Never a mark this run did not make.
	delete(h, MarkKey)
	keys := o.e.keys
	if keys == nil {
		return
	}
	info := o.Next.GetInfo(ctx)
	ns, wfType, runID := info.Namespace, info.WorkflowType.Name, info.WorkflowExecution.RunID
	schedule, mac := workflows.ScheduledRun(ctx)
	switch {
	case schedule != "":
		// Its check's MAC, which a service made: a history written by
		// another worker (one without the key) has none that verifies,
		// and this interceptor signs nothing for it.
		if !keys.verifyRun(mac, ns, wfType, runID, schedule) {
			return
		}
	default:
		// A child whose parent's mark verified (ExecuteWorkflow).
		if schedule, _ = ctx.Value(parentMarkKey{}).(string); schedule == "" {
			return
		}
		mac = keys.RunMAC(ns, wfType, runID, schedule)
	}
	m := mark{RunID: runID, Schedule: schedule, MAC: mac, Child: keys.childMAC(ns, runID, schedule)}
	p, err := converter.GetDefaultDataConverter().ToPayload(m)
	if err == nil {
		h[MarkKey] = p
	}
}

// readMark reads MarkKey from header h.
func readMark(h map[string]*commonpb.Payload) (mark, bool) {
	p, ok := h[MarkKey]
	if !ok {
		return mark{}, false
	}
	var m mark
	if err := converter.GetDefaultDataConverter().FromPayload(p, &m); err != nil {
		return mark{}, false
	}
	return m, true
}

// marked reports whether the activity of ctx carries the mark (MarkKey) of
// the framework run it belongs to, its MAC verified, and the schedule that
// started that run.
func (e *Enforcer) marked(ctx context.Context) (string, bool, error) {
	if !activity.IsActivity(ctx) {
		return "", false, nil
	}
	m, ok := readMark(interceptor.Header(ctx))
	if !ok {
		return "", false, nil
	}
	info := activity.GetInfo(ctx)
	if m.RunID == "" || m.RunID != info.WorkflowExecution.RunID || !e.framework(info.WorkflowType.Name) ||
		!e.keys.verifyRun(m.MAC, info.WorkflowNamespace, info.WorkflowType.Name, m.RunID, m.Schedule) {
		return m.Schedule, false, nil
	}
	return m.Schedule, true, nil
}

func (g *workflowGuard) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	if info := workflow.GetInfo(ctx); info.ParentWorkflowExecution != nil && g.e.framework(info.WorkflowType.Name) {
		if m, ok := readMark(interceptor.WorkflowHeader(ctx)); ok && m.RunID == info.ParentWorkflowExecution.RunID && m.Schedule != "" &&
			g.e.keys.verifyChild(m.Child, info.Namespace, m.RunID, m.Schedule) {
			ctx = workflow.WithValue(ctx, parentMarkKey{}, m.Schedule)
		}
	}
	if WorkflowToken(ctx) == "" {
		if tok, _ := get(headerMap(interceptor.WorkflowHeader(ctx))); tok != "" {
			ctx = workflow.WithValue(ctx, wfTokenKey{}, tok)
		}
	}
	if WorkflowToken(ctx) == "" {
		if p, ok := workflow.GetInfo(ctx).Memo.GetFields()[MemoKey]; ok {
			var tok string
			if converter.GetDefaultDataConverter().FromPayload(p, &tok) == nil && tok != "" {
				ctx = workflow.WithValue(ctx, wfTokenKey{}, tok)
			}
		}
	}
	return g.Next.ExecuteWorkflow(ctx, in)
}

type activityGuard struct {
	interceptor.ActivityInboundInterceptorBase
	e *Enforcer
}

func (g *activityGuard) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	name := activity.GetInfo(ctx).ActivityType.Name
	// The header's token, also when the worker's client has no Propagator
	// to extract it (calls the method makes then carry it only with one).
	if TokenFrom(ctx) == "" {
		if tok, _ := get(headerMap(interceptor.Header(ctx))); tok != "" {
			ctx = WithToken(ctx, tok)
		}
	}
	var err error
	if name == workflows.CheckRunName {
		// The check of a framework run: it reads the run's schedule and
		// returns whether the run is the schedule's, nothing else.
		return g.Next.ExecuteActivity(ctx, in)
	}
	if _, isMethod := g.e.methods[name]; !isMethod {
		ctx, err = g.e.AuthorizeFramework(ctx, name)
	} else {
		ctx, err = g.e.Authorize(ctx, name, in.Args)
	}
	if err != nil {
		return nil, activities.ToApplicationError(err)
	}
	return g.Next.ExecuteActivity(ctx, in)
}

// Authorize decides the activity name run with args by the caller of ctx
// (its token): the method's rule for a method of the service, a valid token
// for any other activity. It returns ctx with the caller's credentials
// (policy.CredentialsFrom), or an Unauthenticated or PolicyDenied
// *managers.Error. Every refusal is logged at warn with the rule and the
// caller; every decision is counted.
func (e *Enforcer) Authorize(ctx context.Context, name string, args []any) (context.Context, error) {
	wfID := ""
	if activity.IsActivity(ctx) {
		wfID = activity.GetInfo(ctx).WorkflowExecution.ID
	}
	m, isMethod := e.methods[name]
	creds, err := e.verify(ctx, TokenFrom(ctx))
	if err != nil {
		e.count(ctx, name, "unauthenticated")
		e.logger.Warn("authorization: call refused", "activity", name, "workflow_id", wfID, "error", err)
		return ctx, err
	}
	creds.Admin = e.policy.Check(policy.AdminRule, creds, nil).Allowed
	if !isMethod {
		return policy.WithCredentials(ctx, creds), nil
	}
	target, err := e.target(ctx, m, args)
	if err != nil {
		return ctx, err
	}
	d := e.policy.Method(e.topic, m, creds, target)
	if !d.Allowed {
		e.count(ctx, name, "denied")
		e.logger.Warn("authorization: call denied", "rule", d.Rule, "rule_text", d.Text, "user", creds.UserID,
			"project", creds.ProjectID, "roles", strings.Join(creds.Roles, ","), "activity", name,
			"object", target["object"], "object_project", target["project_id"], "workflow_id", wfID)
		return ctx, d.Err(creds)
	}
	e.count(ctx, name, "allowed")
	e.logger.Debug("authorization: call allowed", "rule", d.Rule, "user", creds.UserID, "project", creds.ProjectID, "activity", name, "workflow_id", wfID)
	return policy.WithCredentials(ctx, creds), nil
}

// AuthorizeFramework decides an activity of the framework's own runs (a
// status report, a periodic task) or, without a token, an activity that is
// no method of the service (the list of up hosts): allowed with a token
// whose credentials pass policy.FrameworkRule (a framework activity) or any
// valid token (another), else in a workflow run that its Schedule started
// (Scheduled: the run's mark, MarkKey), which carries no token or an old one; the context returned
// then carries no caller's token, so that the calls the run makes present
// the service's own (Propagator.Default). A refusal is a
// PolicyDenied naming the rule (Unauthenticated for a token that does not
// verify, or none outside a framework activity), logged and counted as
// Authorize's.
func (e *Enforcer) AuthorizeFramework(ctx context.Context, name string) (context.Context, error) {
	wfID, wfType := "", ""
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		wfID, wfType = info.WorkflowExecution.ID, info.WorkflowType.Name
	}
	rule, _ := e.policy.Rule(policy.FrameworkRule)
	framework := e.framework(name)
	// The token's decision, kept in case no schedule started the run.
	var refusal error
	var denied policy.Decision
	var creds policy.Credentials
	if tok := TokenFrom(ctx); tok != "" {
		var err error
		if creds, err = e.verify(ctx, tok); err != nil {
			refusal = err
		} else {
			creds.Admin = e.policy.Check(policy.AdminRule, creds, nil).Allowed
			d := policy.Decision{Allowed: true}
			if framework {
				d = e.policy.Check(policy.FrameworkRule, creds, nil)
			}
			if d.Allowed {
				e.count(ctx, name, "allowed")
				e.logger.Debug("authorization: call allowed", "rule", d.Rule, "user", creds.UserID, "activity", name, "workflow_id", wfID)
				return policy.WithCredentials(ctx, creds), nil
			}
			denied, refusal = d, d.Err(creds)
		}
	}
	schedule := ""
	if e.scheduled != nil {
		id, ok, err := e.scheduled(ctx)
		if err != nil {
			e.logger.Warn("authorization: could not tell whether a schedule started the run", "activity", name, "workflow_id", wfID, "error", err)
			return ctx, managers.Unavailable("authorization: whether schedule %s started workflow %s: %v", managers.Quote(id), managers.Quote(wfID), err)
		}
		if ok {
			e.count(ctx, name, "allowed")
			e.logger.Debug("authorization: call allowed", "schedule", id, "activity", name, "workflow_id", wfID)
			// The run has no caller: the calls it makes carry the service's
			// own token (the Propagator's Default), not a token the run's
			// header may still hold (a schedule created with one keeps it,
			// and it expires).
			return WithToken(ctx, ""), nil
		}
		schedule = id
	}
	switch {
	case denied.Rule != "":
		e.count(ctx, name, "denied")
		e.logger.Warn("authorization: call denied", "rule", denied.Rule, "rule_text", denied.Text, "user", creds.UserID,
			"project", creds.ProjectID, "roles", strings.Join(creds.Roles, ","), "activity", name,
			"workflow_type", wfType, "workflow_id", wfID, "schedule", schedule)
		return ctx, refusal
	case refusal != nil:
		e.count(ctx, name, "unauthenticated")
		e.logger.Warn("authorization: call refused", "activity", name, "workflow_id", wfID, "error", refusal)
		return ctx, refusal
	}
	msg := fmt.Sprintf("rule %q (%s): workflow %q (%s) carries no token", policy.FrameworkRule, rule, wfID, wfType)
	if schedule != "" {
		msg += fmt.Sprintf(" and was not started by its schedule %q, or not with the service's own input (edited)", schedule)
	} else {
		msg += " and is no run that its schedule started with the service's own input (the run's check at its start, " + workflows.CheckRunName + ", did not find it one: the service that ran it logs why)"
	}
	if !framework {
		// Not a framework activity: outside a scheduled run it needs a
		// caller, as any call does.
		e.count(ctx, name, "unauthenticated")
		e.logger.Warn("authorization: call refused", "activity", name, "workflow_id", wfID, "error", "no token")
		return ctx, &managers.Error{Type: policy.UnauthenticatedType, Message: "no token: " + msg}
	}
	e.count(ctx, name, "denied")
	e.logger.Warn("authorization: call denied", "rule", policy.FrameworkRule, "rule_text", rule, "activity", name,
		"workflow_type", wfType, "workflow_id", wfID, "schedule", schedule, "error", "no token, not started by its schedule")
	return ctx, &managers.Error{Type: policy.DeniedType, Message: msg}
}

// verify checks the token of the call of ctx, an activity's: Verify, and,
// when the token has expired since and MaxCallAge is set, VerifyEntered at
// the call's entry, which Entries reads from the server.
func (e *Enforcer) verify(ctx context.Context, tok string) (policy.Credentials, error) {
	creds, expired, err := e.verifier.verify(tok)
	if !expired || e.maxAge <= 0 || e.entries == nil || !activity.IsActivity(ctx) {
		return creds, err
	}
	info := activity.GetInfo(ctx)
	entry, lerr := e.entries.Of(ctx, info.WorkflowNamespace, info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
	switch {
	case errors.Is(lerr, ErrNoEntry):
		return creds, unauthenticated("token refused: expired, and %v", lerr)
	case lerr != nil:
		return creds, managers.Unavailable("authorization: the entry of workflow %s, whose token has expired: %v", managers.Quote(info.WorkflowExecution.ID), lerr)
	}
	creds, err = e.verifier.VerifyEntered(tok, entry, e.maxAge, time.Now())
	if err == nil {
		e.logger.Debug("authorization: token expired, valid when its call entered", "user", creds.UserID,
			"entered", entry.Time, "entry_workflow_id", entry.WorkflowID, "workflow_id", info.WorkflowExecution.ID)
	}
	return creds, err
}

// target is what a method's rule may name: the request's top-level string
// fields, and for a method with an object the object's owner (project_id,
// user_id) as the manager records it (never as the request says).
func (e *Enforcer) target(ctx context.Context, m managers.Method, args []any) (map[string]string, error) {
	t := map[string]string{}
	var raw []byte
	if len(args) > 0 {
		switch a := args[0].(type) {
		case json.RawMessage:
			raw = a
		case []byte:
			raw = a
		}
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		for k, v := range obj {
			var s string
			if json.Unmarshal(v, &s) == nil {
				t[k] = s
			}
		}
	}
	delete(t, "project_id")
	delete(t, "user_id")
	if m.Object == "" {
		return t, nil
	}
	t["object"] = t[m.Object]
	if e.owner == nil || t[m.Object] == "" {
		return t, nil
	}
	own, err := e.owner.Owner(ctx, m.Name, t[m.Object])
	if err != nil {
		if me, ok := managers.AsError(err); ok && me.Type == managers.NotFoundType {
			return t, nil // no owner: only rules that need none allow it
		}
		if _, ok := managers.AsError(err); ok {
			return nil, err
		}
		return nil, managers.Unavailable("authorization: owner of %s %s: %v", m.Object, managers.Quote(t[m.Object]), err)
	}
	if own.ProjectID != "" {
		t["project_id"] = own.ProjectID
	}
	if own.UserID != "" {
		t["user_id"] = own.UserID
	}
	return t, nil
}

func (e *Enforcer) count(ctx context.Context, name, decision string) {
	if e.counter == nil {
		return
	}
	method := strings.TrimPrefix(name, e.topic+".")
	e.counter.Add(ctx, 1, metric.WithAttributes(attribute.String("topic", e.topic), attribute.String("method", method), attribute.String("decision", decision)))
}

// headerMap reads a raw header as a workflow.HeaderReader.
type headerMap map[string]*commonpb.Payload

func (h headerMap) Get(key string) (*commonpb.Payload, bool) {
	p, ok := h[key]
	return p, ok
}

func (h headerMap) ForEachKey(f func(string, *commonpb.Payload) error) error {
	for k, v := range h {
		if err := f(k, v); err != nil {
			return err
		}
	}
	return nil
}
