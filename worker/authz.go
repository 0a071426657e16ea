package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
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
	runs := &scheduledRuns{client: s.client, topic: topic, logger: s.logger, seen: map[string]bool{}}
	return []interceptor.WorkerInterceptor{auth.NewEnforcer(auth.EnforcerOptions{
		Verifier: s.verifier, Policy: s.policy, Topic: topic, Methods: s.mgr.RPCMethods(), Owner: owner, Logger: s.logger,
		// The framework's own runs: the status report and the periodic
		// tasks. Their schedules start them without a token; a run started
		// otherwise needs a service's token (docs/security.md).
		Framework: func(name string) bool {
			return name == workflows.ReportStateName(topic) || name == workflows.ReportAliveName(topic) ||
				strings.HasPrefix(name, workflows.PeriodicName(topic, ""))
		},
		Scheduled: runs.started,
	})}
}

// scheduledRuns tells whether an activity's workflow run was started by the
// topic's schedule of its type (the status report's, a periodic task's).
// The search attribute TemporalScheduledById that the scheduler sets on its
// runs does not tell: any client may set it on a start. The schedule's own
// record does: its running workflows and its recent actions (the last ten,
// triggers included) name each run it started by workflow ID and first run
// ID.
type scheduledRuns struct {
	client client.Client
	topic  string
	logger *slog.Logger

	mu   sync.Mutex
	seen map[string]bool // workflow ID/run ID of runs found, bounded
}

// scheduledRunWait bounds how long a run not (yet) in its schedule's record
// is looked for: the scheduler records a run once its start returned, which
// may be after the run's first activity started.
const scheduledRunWait = 3 * time.Second

func (r *scheduledRuns) started(ctx context.Context) (string, bool, error) {
	if !activity.IsActivity(ctx) || r.client == nil {
		return "", false, nil
	}
	info := activity.GetInfo(ctx)
	var id string
	switch wt := info.WorkflowType.Name; {
	case wt == workflows.ReportStateName(r.topic):
		id = ReportScheduleID(r.topic)
	case strings.HasPrefix(wt, workflows.PeriodicName(r.topic, "")):
		id = PeriodicScheduleID(r.topic, strings.TrimPrefix(wt, workflows.PeriodicName(r.topic, "")))
	default:
		return "", false, nil
	}
	run := info.WorkflowExecution
	if !strings.HasPrefix(run.ID, id+"-") {
		// A schedule names its runs <schedule ID>-<time>.
		return id, false, nil
	}
	key := run.ID + "/" + run.RunID
	r.mu.Lock()
	found := r.seen[key]
	r.mu.Unlock()
	if found {
		return id, true, nil
	}
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
			return id, false, nil
		case err != nil:
			return id, false, err
		}
		if startedBy(desc, run.ID, run.RunID) {
			// The schedule started it, but with the action it has now:
			// one edited by hand (a namespace writer) would run the
			// framework's workflow with input of its choosing.
			if why := r.foreignAction(desc, id, info.WorkflowType.Name); why != "" {
				r.logger.Warn("authorization: the schedule's action is not the service's own; its run is refused", "schedule", id, "workflow_id", run.ID, "why", why)
				return id, false, nil
			}
			r.mu.Lock()
			if len(r.seen) >= 4096 {
				clear(r.seen)
			}
			r.seen[key] = true
			r.mu.Unlock()
			return id, true, nil
		}
		if time.Now().Add(wait).After(end) {
			return id, false, nil
		}
		select {
		case <-ctx.Done():
			return id, false, nil
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

// foreignAction says how the action of the schedule of desc (ID id, whose
// runs are workflows of type wfType) differs from what a service of the
// topic makes it (planSchedules), "" when it does not: the framework's
// workflow on the topic's queue, with an input that holds only what a
// schedule gives (no report's asked or alive hosts, which only the
// workflow itself sets; no periodic run's hosts) for this topic and task.
// The intervals and durations in it are not compared: the services of a
// topic may differ in them (NOVAFLOW_REPORT_INTERVAL, 0 on some;
// NOVAFLOW_PERIODIC_FUZZY_DELAY, which each host also bounds its wait by).
func (r *scheduledRuns) foreignAction(desc *client.ScheduleDescription, id, wfType string) string {
	a, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	switch {
	case !ok:
		return "not a workflow start"
	case a.ID != id:
		return "workflow ID " + managers.Quote(a.ID)
	case a.TaskQueue != r.topic:
		return "task queue " + managers.Quote(a.TaskQueue)
	case len(a.Args) != 1:
		return fmt.Sprintf("%d arguments", len(a.Args))
	}
	if wf, _ := a.Workflow.(string); wf != wfType {
		return "workflow type " + managers.Quote(wf)
	}
	p, ok := a.Args[0].(*commonpb.Payload)
	if !ok {
		return "an argument that is no payload"
	}
	strict := func(v any) error {
		dec := json.NewDecoder(bytes.NewReader(p.GetData()))
		dec.DisallowUnknownFields()
		return dec.Decode(v)
	}
	durations := func(ds ...string) string {
		for _, d := range ds {
			if v, err := time.ParseDuration(d); d != "" && (err != nil || v < 0) {
				return "duration " + managers.Quote(d)
			}
		}
		return ""
	}
	if wfType == workflows.ReportStateName(r.topic) {
		var req workflows.ReportRequest
		switch err := strict(&req); {
		case err != nil:
			return "input: " + err.Error()
		case req.Topic != r.topic:
			return "topic " + managers.Quote(req.Topic)
		case req.Asked || len(req.Alive) > 0:
			return "input sets asked or alive hosts"
		}
		return durations(req.Every, req.For)
	}
	var req workflows.PeriodicRequest
	switch err := strict(&req); {
	case err != nil:
		return "input: " + err.Error()
	case req.Topic != r.topic:
		return "topic " + managers.Quote(req.Topic)
	case workflows.PeriodicName(r.topic, req.Task) != wfType:
		return "task " + managers.Quote(req.Task)
	case len(req.Hosts) > 0 || req.Host != "":
		return "input names hosts"
	}
	return durations(req.Spread)
}
