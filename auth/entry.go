package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/golang-jwt/jwt/v5"

	"github.com/novaflow/novaflow/policy"
)

// Entry is where a call entered: the start of the first run of the root
// of its workflow tree (the execution the caller started, before any
// continue-as-new, retry or cron run), as the Temporal server recorded it.
type Entry struct {
	// Time is when the server recorded that start.
	Time time.Time
	// Token is the token that start carried: its header HeaderKey, else
	// its memo MemoKey; "" when none.
	Token string
	// WorkflowID and RunID name that run.
	WorkflowID, RunID string
}

// ErrNoEntry is returned by Entries.Of when a call has no entry to judge
// its token at: the server no longer records it (a history past its
// namespace's retention), a run on the way was reset, or there are more
// than maxEntryHops parents and earlier runs on the way.
var ErrNoEntry = errors.New("its call has no entry to judge it at (the first start of the workflow its caller started)")

// maxEntryHops bounds the executions read to find an entry.
const maxEntryHops = 32

// maxEntries bounds the cache of Entries; when full it is emptied.
const maxEntries = 4096

// Entries reads the Entry of a workflow run from the start events of the
// server's histories, which no client can write: a run's parent is set by
// the server when a workflow starts a child, the run before it by the
// server at continue-as-new, retry and cron. A reset run has none
// (ErrNoEntry). Headers, which any workflow sets on what it starts (one on
// a worker outside novaflow too), are never trusted for it. Entries never
// change, so each run's is read once and kept. It is safe for concurrent
// use.
type Entries struct {
	client client.Client

	mu    sync.Mutex
	cache map[string]Entry // by namespace/workflow ID/run ID
}

// NewEntries returns the Entries read through c (a service's own client,
// with the payload codec on its connection when one is set).
func NewEntries(c client.Client) *Entries {
	return &Entries{client: c, cache: map[string]Entry{}}
}

// Of returns the Entry of the call that workflow run (workflowID, runID)
// of namespace belongs to. ErrNoEntry when it is not recorded; another
// error when the server could not be asked.
func (e *Entries) Of(ctx context.Context, namespace, workflowID, runID string) (Entry, error) {
	key := namespace + "/" + workflowID + "/" + runID
	e.mu.Lock()
	got, ok := e.cache[key]
	e.mu.Unlock()
	if ok {
		return got, nil
	}
	exec := &commonpb.WorkflowExecution{WorkflowId: workflowID, RunId: runID}
	for range maxEntryHops {
		start, at, err := e.started(ctx, namespace, exec)
		if err != nil {
			return Entry{}, err
		}
		switch {
		case start.GetOriginalExecutionRunId() != "" && start.GetOriginalExecutionRunId() != exec.GetRunId():
			// A reset run (its start event is its base run's): someone who
			// can write the namespace drives it again, not its caller.
			return Entry{}, fmt.Errorf("%w: workflow %q run %q was reset from run %q, and a reset run is no later step of its call",
				ErrNoEntry, exec.GetWorkflowId(), exec.GetRunId(), start.GetOriginalExecutionRunId())
		case start.GetContinuedExecutionRunId() != "":
			// A later run of a chain (continue-as-new, retry, cron): the
			// run before it, back to the chain's first, before any parent
			// (a child's later runs name its parent too); each run is
			// looked at, as any may have been reset.
			exec = &commonpb.WorkflowExecution{WorkflowId: exec.GetWorkflowId(), RunId: start.GetContinuedExecutionRunId()}
		case start.GetParentWorkflowExecution() != nil:
			// The first run of a child: its parent's entry is its own.
			if ns := start.GetParentWorkflowNamespace(); ns != "" {
				namespace = ns
			}
			exec = start.GetParentWorkflowExecution()
		default:
			got = Entry{Time: at, Token: startToken(start.GetHeader().GetFields(), start.GetMemo().GetFields()),
				WorkflowID: exec.GetWorkflowId(), RunID: exec.GetRunId()}
			e.mu.Lock()
			if len(e.cache) >= maxEntries {
				e.cache = map[string]Entry{}
			}
			e.cache[key] = got
			e.mu.Unlock()
			return got, nil
		}
	}
	return Entry{}, fmt.Errorf("%w: more than %d executions between a run and its entry", ErrNoEntry, maxEntryHops)
}

// started reads the start event of exec: its attributes and time.
func (e *Entries) started(ctx context.Context, namespace string, exec *commonpb.WorkflowExecution) (*historypb.WorkflowExecutionStartedEventAttributes, time.Time, error) {
	resp, err := e.client.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace: namespace, Execution: exec, MaximumPageSize: 1,
		HistoryEventFilterType: enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT,
	})
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return nil, time.Time{}, fmt.Errorf("%w: workflow %q run %q: %v", ErrNoEntry, exec.GetWorkflowId(), exec.GetRunId(), err)
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("history of workflow %q run %q: %w", exec.GetWorkflowId(), exec.GetRunId(), err)
	}
	events := resp.GetHistory().GetEvents()
	if len(events) == 0 || events[0].GetWorkflowExecutionStartedEventAttributes() == nil {
		return nil, time.Time{}, fmt.Errorf("%w: workflow %q run %q has no start event", ErrNoEntry, exec.GetWorkflowId(), exec.GetRunId())
	}
	return events[0].GetWorkflowExecutionStartedEventAttributes(), events[0].GetEventTime().AsTime(), nil
}

// startToken is the token of a start: the header's, else the memo's (as
// the workflow reads it).
func startToken(header, memo map[string]*commonpb.Payload) string {
	if tok, _ := get(headerMap(header)); tok != "" {
		return tok
	}
	var tok string
	if p, ok := memo[MemoKey]; ok && converter.GetDefaultDataConverter().FromPayload(p, &tok) == nil {
		return tok
	}
	return ""
}

// VerifyEntered checks token, refused by Verify for its expiry alone, as
// the token of a call that entered at entry and runs a later step at now:
// the token must be the one entry carried, and valid at entry.Time
// (signature, issuer and audience as Verify checks them; exp, nbf and iat
// judged at entry.Time, with the leeway), and the call no older than maxAge
// (now - entry.Time). A refusal is an Unauthenticated *managers.Error
// saying which of these failed, never quoting the token.
func (v *Verifier) VerifyEntered(token string, entry Entry, maxAge time.Duration, now time.Time) (policy.Credentials, error) {
	if token == "" || token != entry.Token {
		carries := "another"
		if entry.Token == "" {
			carries = "none"
		}
		return policy.Credentials{}, unauthenticated("token refused: expired, and not the token its call entered with (the start of workflow %q run %q carries %s): "+
			"a token is judged at its call's entry only in the workflow it started, its activities, child workflows and the calls they make",
			entry.WorkflowID, entry.RunID, carries)
	}
	at := entry.Time
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(append(v.opts[:len(v.opts):len(v.opts)], jwt.WithTimeFunc(func() time.Time { return at }))...).
		ParseWithClaims(token, claims, v.keys)
	exp, _ := claims.GetExpirationTime()
	switch {
	case err != nil && expiredOnly(err) && exp != nil:
		return policy.Credentials{}, unauthenticated("token refused: expired at %s, before its call entered at %s (the start of workflow %q)",
			stamp(exp.Time), stamp(at), entry.WorkflowID)
	case err != nil:
		return policy.Credentials{}, unauthenticated("token refused at its call's entry (%s, the start of workflow %q): %s", stamp(at), entry.WorkflowID, reason(err))
	case exp == nil:
		return policy.Credentials{}, unauthenticated("token refused: no exp")
	case now.Sub(at) > maxAge:
		return policy.Credentials{}, unauthenticated("token refused: expired at %s; its call entered at %s (the start of workflow %q), longer ago than the maximum call age (NOVAFLOW_AUTH_MAX_CALL_AGE=%s)",
			stamp(exp.Time), stamp(at), entry.WorkflowID, maxAge)
	}
	return v.credentials(claims), nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
