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
// calling workflow's history already makes the call happen once. Upgrade
// levels are not applied (they need the database); Version is sent and the
// target checks it.
func CallFromWorkflow(ctx workflow.Context, topic, method string, req, resp any, opts ...CallOption) error {
	o, err := applyOptions(opts, DefaultResponseTimeout)
	if err != nil {
		return err
	}
	raw, host, err := encodeRequest(req, o.host)
	if err != nil {
		return err
	}
	if host == AllHosts {
		return managers.InvalidArgument(managers.HostField, "use FanoutFromWorkflow to call every host")
	}
	t := target{Topic: topic, Method: method, Host: host, Version: o.version}
	out, err := runMethod(ctx, t, raw, workflow.Now(ctx).Add(o.timeout))
	if err != nil {
		return workflowCallError(t, err)
	}
	return decodeResult(out, resp)
}

// FanoutFromWorkflow is Fanout for workflow code: it lists the topic's up
// hosts and runs the method's activity on each, from the calling workflow,
// within Timeout (default DefaultResponseTimeout).
func FanoutFromWorkflow(ctx workflow.Context, topic, method string, req any, opts ...CallOption) ([]HostResult, error) {
	o, err := applyOptions(opts, DefaultResponseTimeout)
	if err != nil {
		return nil, err
	}
	if o.host != "" {
		return nil, managers.InvalidArgument(managers.HostField, "a fanout goes to every host; drop ToHost")
	}
	raw, _, err := encodeRequest(req, AllHosts)
	if err != nil {
		return nil, err
	}
	t := target{Topic: topic, Method: method, Host: AllHosts, Version: o.version}
	res, err := fanout(ctx, t, raw, workflow.Now(ctx).Add(o.timeout), nil)
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
// returns the earlier execution's workflow ID.
func CastFromWorkflow(ctx workflow.Context, topic, method string, req any, opts ...CallOption) (Execution, error) {
	o, err := applyOptions(opts, DefaultCastTimeout)
	if err != nil {
		return Execution{}, err
	}
	raw, host, err := encodeRequest(req, o.host)
	if err != nil {
		return Execution{}, err
	}
	if host == AllHosts {
		return Execution{}, managers.InvalidArgument(managers.HostField, "a cast goes to one host or any host")
	}
	t := target{Topic: topic, Method: method, Host: host, Version: o.version}
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
