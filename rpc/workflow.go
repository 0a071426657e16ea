package rpc

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/workflows"
)

// CallFromWorkflow is Call for workflow code: it runs the method's activity
// <topic>.<method> directly from the calling workflow (no execution of its
// own), on the target's queue, with the RPC retry policy and a deadline of
// Timeout (default DefaultResponseTimeout; settings cannot be read in
// workflow code). A dead host fails with a Timeout error within it; typed
// errors come back as *managers.Error. RequestID does not apply: the
// calling workflow's history already makes the call happen once.
//
// The call is versioned and capped as Client.Call's: at the version the
// calling service speaks (Version, else the method's version in the
// topic's registered manager definition, managers.Definition.Methods),
// capped by the calling service's NOVAFLOW_UPGRADE_LEVELS_<TOPIC> (fixed or
// "auto"), in the form that version understands, or refused here with an
// UnsupportedVersion error. Both are read through the local activity
// CallVersionName and recorded in the history (see versionedRequest).
func CallFromWorkflow(ctx workflow.Context, topic, method string, req, resp any, opts ...CallOption) error {
	o, err := applyOptions(opts, DefaultResponseTimeout)
	if err != nil {
		return err
	}
	if _, host, err := encodeRequest(req, o.host); err != nil {
		return err
	} else if host == AllHosts {
		return managers.InvalidArgument(managers.HostField, "use FanoutFromWorkflow to call every host")
	}
	deadline := workflow.Now(ctx).Add(o.timeout)
	t := target{Topic: topic, Method: method}
	raw, host, err := versionedRequest(ctx, &t, req, o)
	if err != nil {
		return err
	}
	t.Host = host
	out, err := runMethod(ctx, t, raw, deadline)
	if err != nil {
		return workflowCallError(t, err)
	}
	return decodeResult(out, resp)
}

// FanoutFromWorkflow is Fanout for workflow code: it lists the topic's up
// hosts and runs the method's activity on each, from the calling workflow,
// within Timeout (default DefaultResponseTimeout). It is versioned and
// capped as CallFromWorkflow.
func FanoutFromWorkflow(ctx workflow.Context, topic, method string, req any, opts ...CallOption) ([]HostResult, error) {
	o, err := applyOptions(opts, DefaultResponseTimeout)
	if err != nil {
		return nil, err
	}
	if o.host != "" {
		return nil, managers.InvalidArgument(managers.HostField, "a fanout goes to every host; drop ToHost")
	}
	o.host = AllHosts
	if _, _, err := encodeRequest(req, AllHosts); err != nil {
		return nil, err
	}
	deadline := workflow.Now(ctx).Add(o.timeout)
	t := target{Topic: topic, Method: method, Host: AllHosts}
	raw, _, err := versionedRequest(ctx, &t, req, o)
	if err != nil {
		return nil, err
	}
	res, err := fanout(ctx, t, raw, deadline, nil)
	if err != nil {
		return nil, workflowCallError(t, err)
	}
	return hostResults(res), nil
}

// CastFromWorkflow is Cast for workflow code: it starts the RPC execution as
// a child workflow that outlives the caller (parent close policy abandon)
// and returns once it has started. Its deadline is Timeout (default
// DefaultCastTimeout). Without a RequestID the ID is a UUID recorded in the
// caller's history; a RequestID that was used before starts nothing and
// returns the earlier execution's workflow ID. It is versioned and capped
// as CallFromWorkflow; the version travels as the child's memo
// NovaflowVersion.
func CastFromWorkflow(ctx workflow.Context, topic, method string, req any, opts ...CallOption) (Execution, error) {
	o, err := applyOptions(opts, DefaultCastTimeout)
	if err != nil {
		return Execution{}, err
	}
	if _, host, err := encodeRequest(req, o.host); err != nil {
		return Execution{}, err
	} else if host == AllHosts {
		return Execution{}, managers.InvalidArgument(managers.HostField, "a cast goes to one host or any host")
	}
	t := target{Topic: topic, Method: method}
	raw, host, err := versionedRequest(ctx, &t, req, o)
	if err != nil {
		return Execution{}, err
	}
	t.Host = host
	rid := o.requestID
	if rid == "" {
		if err := workflow.SideEffect(ctx, func(workflow.Context) any { return uuid.NewString() }).Get(&rid); err != nil {
			return Execution{}, fmt.Errorf("make a request ID: %w", err)
		}
	}
	id := WorkflowID(topic, method, host, rid)
	cwo := workflow.ChildWorkflowOptions{
		WorkflowID:               id,
		TaskQueue:                topic,
		WorkflowExecutionTimeout: max(o.timeout, time.Second),
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		ParentClosePolicy:        enumspb.PARENT_CLOSE_POLICY_ABANDON,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.TopicKey.ValueSet(t.Topic),
			workflows.HostKey.ValueSet(t.HostLabel()),
			workflows.MethodKey.ValueSet(t.Method),
		),
	}
	if t.Version != "" {
		cwo.Memo = map[string]any{VersionMemo: t.Version}
	}
	child := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, cwo), t.Name(), raw)
	var exec workflow.Execution
	if err := child.GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
		var started *temporal.ChildWorkflowExecutionAlreadyStartedError
		if errors.As(err, &started) {
			return Execution{WorkflowID: id}, nil
		}
		return Execution{}, fmt.Errorf("start %s on task queue %s: %w", t.Name(), topic, err)
	}
	return Execution{WorkflowID: exec.ID, RunID: exec.RunID}, nil
}

// workflowCallError turns a workflow-side call's error into what Call
// returns: typed errors (Timeout included) as *managers.Error.
func workflowCallError(t target, err error) error {
	if e, ok := managers.AsError(activities.FromApplicationError(err)); ok {
		return e
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return err
	}
	return fmt.Errorf("call %s on task queue %s: %w", t.Name(), t.Queue(), err)
}
