package worker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
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

// loadAuthz reads the authorization settings: the key set and the policy
// file. A URL's key set (https:// only) is fetched now, and an unreachable
// URL or one that serves no key set stops the start, naming the setting;
// it is fetched again every auth.JWKSRefreshInterval until ctx ends. A file
// is read again when it changes (auth.JWKSReloadInterval). Errors name the
// setting.
func (c Config) loadAuthz(ctx context.Context, logger *slog.Logger) (*auth.Verifier, *policy.Policy, error) {
	if !c.Auth {
		return nil, nil, nil
	}
	v, err := auth.NewVerifier(ctx, auth.VerifierConfig{
		JWKS: c.AuthJWKS, Issuer: c.AuthIssuer, Audience: c.AuthAudience,
		UserClaim: c.AuthUserClaim, ProjectClaim: c.AuthProjectClaim, RolesClaim: c.AuthRolesClaim,
		Logger: logger, HTTPClient: jwksHTTPClient,
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

// jwksHTTPClient, when set (by tests, to trust their TLS server), fetches a
// key set URL.
var jwksHTTPClient *http.Client

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
		// tasks. Their schedules start them without a token, and each run
		// checks itself once (checkRun) and marks its activities; a run
		// started otherwise needs a service's token (docs/security.md).
		Framework: func(name string) bool {
			return name == workflows.ReportStateName(topic) || name == workflows.ReportAliveName(topic) ||
				strings.HasPrefix(name, workflows.PeriodicName(topic, ""))
		},
		// A call goes on as its caller after the caller's token expired,
		// judged at its entry as the server recorded it.
		MaxCallAge: s.cfg.AuthMaxCallAge,
		Entries:    auth.NewEntries(s.client),
		MarkKeys:   s.markKeys,
	})}
}

// checkRun is the local activity workflows.CheckRunName of the topic's
// queue: without authorization it checks nothing; with it, it tells whether
// the schedule of the run's type started the run, with the service's own
// input (scheduledRuns.check), and when it did, the MAC of the run's mark
// (auth.MarkKeys.RunMAC).
func (s *Service) checkRun(ctx context.Context, req workflows.CheckRunRequest) (workflows.CheckRunResult, error) {
	if s.verifier == nil {
		return workflows.CheckRunResult{}, nil
	}
	if !activity.IsActivity(ctx) || !activity.GetInfo(ctx).IsLocalActivity {
		// Only as a local activity does the check run in the worker that
		// runs the workflow's task, a service's: scheduled as an ordinary
		// activity on the topic's queue, it would give its MAC to the
		// workflow code of whoever asked (a worker of a namespace writer's
		// running a run its schedule started, after an edit of the
		// schedule's queue).
		if activity.IsActivity(ctx) {
			info := activity.GetInfo(ctx)
			s.logger.Warn("authorization: the run's check was called as an ordinary activity; the run is refused",
				"workflow_id", info.WorkflowExecution.ID, "run_id", info.WorkflowExecution.RunID, "workflow_type", info.WorkflowType.Name)
		}
		return workflows.CheckRunResult{}, nil
	}
	r := &scheduledRuns{client: s.client, topic: s.topic, logger: s.logger}
	res, err := r.check(ctx, req)
	if err != nil || res.Schedule == "" || s.markKeys == nil {
		return workflows.CheckRunResult{}, err
	}
	// The mark's MAC, which the run keeps and its activities carry: only
	// a service, which has the key, makes it.
	info := activity.GetInfo(ctx)
	res.MAC = s.markKeys.RunMAC(info.WorkflowNamespace, info.WorkflowType.Name, info.WorkflowExecution.RunID, res.Schedule)
	return res, nil
}

// scheduledRuns tells whether a workflow run was started by the topic's
// schedule of its type (the status report's, a periodic task's), with the
// input a service of the topic gives that schedule. The search attribute
// TemporalScheduledById that the scheduler sets on its runs does not tell
// who started a run: any client may set it on a start. The schedule's own
// record does: its running workflows and its recent actions (the last ten,
// triggers included) name each run it started by workflow ID and first run
// ID. The run's input is the one its workflow passes (workflow code), not
// the schedule's action, which may have been edited and set back since it
// started the run.
type scheduledRuns struct {
	client client.Client
	topic  string
	logger *slog.Logger
}

// scheduledRunWait bounds how long a run not (yet) in its schedule's record
// is looked for: the scheduler records a run once its start returned, which
// may be after the run's check started. The check is made once per run, so
// a run refused for want of waiting stays refused (a report run, ten
// minutes of reports); a run no schedule started is refused this much later.
const scheduledRunWait = 10 * time.Second

// check is the check of the run of the local activity ctx, whose input is
// req: the ID of the schedule that started it with the service's own input,
// or "" (logged at warn when the schedule started it with another input).
// An error is a schedule that could not be read.
func (r *scheduledRuns) check(ctx context.Context, req workflows.CheckRunRequest) (workflows.CheckRunResult, error) {
	if !activity.IsActivity(ctx) || r.client == nil {
		return workflows.CheckRunResult{}, nil
	}
	info := activity.GetInfo(ctx)
	wfType := info.WorkflowType.Name
	var id string
	switch {
	case wfType == workflows.ReportStateName(r.topic) && req.Report != nil && req.Periodic == nil:
		id = ReportScheduleID(r.topic)
	case strings.HasPrefix(wfType, workflows.PeriodicName(r.topic, "")) && req.Periodic != nil && req.Report == nil:
		id = PeriodicScheduleID(r.topic, strings.TrimPrefix(wfType, workflows.PeriodicName(r.topic, "")))
	default:
		return workflows.CheckRunResult{}, nil
	}
	run := info.WorkflowExecution
	if !strings.HasPrefix(run.ID, id+"-") {
		// A schedule names its runs <schedule ID>-<time>.
		return workflows.CheckRunResult{}, nil
	}
	ok, err := r.started(ctx, id, run.ID, run.RunID)
	if err != nil || !ok {
		return workflows.CheckRunResult{}, err
	}
	// The schedule started it, but with the input its action had then:
	// one edited by hand (a namespace writer) would run the framework's
	// workflow with input of its choosing, even if the edit was set back
	// since.
	if why := r.foreignInput(wfType, req); why != "" {
		r.logger.Warn("authorization: the run's input is not the service's own; the run is refused", "schedule", id, "workflow_id", run.ID, "run_id", run.RunID, "why", why)
		return workflows.CheckRunResult{}, nil
	}
	return workflows.CheckRunResult{Schedule: id}, nil
}

// started reports whether schedule id's record names the run wfID/runID,
// looking for up to scheduledRunWait (one read when it is there).
func (r *scheduledRuns) started(ctx context.Context, id, wfID, runID string) (bool, error) {
	end := time.Now().Add(scheduledRunWait)
	if d, ok := ctx.Deadline(); ok && d.Add(-200*time.Millisecond).Before(end) {
		end = d.Add(-200 * time.Millisecond)
	}
	wait := 50 * time.Millisecond
	for {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		desc, err := r.client.ScheduleClient().GetHandle(dctx, id).Describe(dctx)
		cancel()
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			return false, nil
		case err != nil:
			return false, managers.Unavailable("authorization: whether schedule %s started workflow %s: %v", managers.Quote(id), managers.Quote(wfID), err)
		}
		if startedBy(desc, wfID, runID) {
			return true, nil
		}
		if time.Now().Add(wait).After(end) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			// Not an answer: the check is retried (or fails), never
			// refuses the run for want of time.
			return false, managers.Unavailable("authorization: whether schedule %s started workflow %s: %v", managers.Quote(id), managers.Quote(wfID), ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// startedBy reports whether the schedule of desc started the workflow run
// wfID/runID.
func startedBy(desc *client.ScheduleDescription, wfID, runID string) bool {
	for _, w := range desc.Info.RunningWorkflows {
		if w.WorkflowID == wfID && w.FirstExecutionRunID == runID {
			return true
		}
	}
	for _, a := range desc.Info.RecentActions {
		if w := a.StartWorkflowResult; w != nil && w.WorkflowID == wfID && w.FirstExecutionRunID == runID {
			return true
		}
	}
	return false
}

// foreignInput says how the input req of a run of type wfType differs from
// what a service of the topic gives its schedule (planSchedules), "" when
// it does not: an input for this topic and task that holds only what a
// schedule gives (no report's asked or alive hosts, which only the workflow
// itself sets; no periodic run's hosts). The intervals and durations in it
// are not compared: the services of a topic may differ in them
// (NOVAFLOW_REPORT_INTERVAL, 0 on some; NOVAFLOW_PERIODIC_FUZZY_DELAY,
// which each host also bounds its wait by). Fields the workflow's input
// type does not have were dropped when the workflow read its input.
func (r *scheduledRuns) foreignInput(wfType string, req workflows.CheckRunRequest) string {
	durations := func(ds ...string) string {
		for _, d := range ds {
			if v, err := time.ParseDuration(d); d != "" && (err != nil || v < 0) {
				return "duration " + managers.Quote(d)
			}
		}
		return ""
	}
	if rr := req.Report; rr != nil {
		switch {
		case wfType != workflows.ReportStateName(r.topic):
			return "workflow type " + managers.Quote(wfType)
		case rr.Topic != r.topic:
			return "topic " + managers.Quote(rr.Topic)
		case rr.Asked || len(rr.Alive) > 0:
			return "input sets asked or alive hosts"
		}
		return durations(rr.Every, rr.For)
	}
	pr := req.Periodic
	switch {
	case pr == nil:
		return "no input"
	case pr.Topic != r.topic:
		return "topic " + managers.Quote(pr.Topic)
	case workflows.PeriodicName(r.topic, pr.Task) != wfType:
		return "task " + managers.Quote(pr.Task)
	case len(pr.Hosts) > 0 || pr.Host != "":
		return "input names hosts"
	}
	return durations(pr.Spread)
}
