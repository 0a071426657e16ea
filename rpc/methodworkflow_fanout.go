package rpc

import (
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/workflows"
)

// fanoutResult is the result of a fanout: one entry per host the call was
// sent to, in host order.
type fanoutResult struct {
	Hosts []fanoutHost `json:"hosts"`
}

// fanoutHost is one host's outcome in a fanout: its JSON result, or its
// error.
type fanoutHost struct {
	Host   string               `json:"host"`
	Result json.RawMessage      `json:"result,omitempty"`
	Error  *workflows.HostError `json:"error,omitempty"`
}

// errorType is the type of a host's failure that carries no type of its own.
const errorType = "Error"

// fanout runs the call on every up host of the topic, at once, disabled
// hosts included (nova's fanout cast reaches every consumer of the topic:
// disabling a service keeps new work from being scheduled to it, not its
// messages from arriving), and returns each host's result or error. The
// hosts come from the services table through activity workflows.UpHostsName
// on the topic's shared queue.
// Each host's request is req with "host" set to the host; check, when
// set, validates each of them before any is dispatched. Each host must take
// its call within FanoutHostStartTimeout, so a host that went down since its
// last report gets a Timeout error instead of holding up the fanout.
func fanout(ctx workflow.Context, t target, req json.RawMessage, deadline time.Time, check func(req json.RawMessage) error) (fanoutResult, error) {
	b := budget(workflow.Now(ctx), deadline)
	if b <= 0 {
		return fanoutResult{}, timeoutError("%s: the deadline passed before the fanout listed its hosts", t.Name())
	}
	lctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              t.Topic,
		ScheduleToStartTimeout: b,
		ScheduleToCloseTimeout: b,
		RetryPolicy:            retryPolicy(),
	})
	var up workflows.UpHostsResult
	if err := workflow.ExecuteActivity(lctx, workflows.UpHostsName, workflows.UpHostsRequest{Topic: t.Topic, IncludeDisabled: true}).Get(ctx, &up); err != nil {
		return fanoutResult{}, callError(workflows.UpHostsName, t.Topic, b, b, err)
	}

	reqs := make([]json.RawMessage, len(up.Hosts))
	for i, h := range up.Hosts {
		reqs[i] = withHost(req, h)
		if check != nil {
			if err := check(reqs[i]); err != nil {
				return fanoutResult{}, activities.ToApplicationError(fmt.Errorf("request for host %s: %w", h, err))
			}
		}
	}

	b = budget(workflow.Now(ctx), deadline)
	if b <= 0 {
		return fanoutResult{}, timeoutError("%s: the deadline passed before the fanout dispatched its calls", t.Name())
	}
	futures := make([]workflow.Future, len(up.Hosts))
	for i, h := range up.Hosts {
		ht := t
		ht.Host = h
		actx := workflow.WithActivityOptions(ctx, activityOptions(ht.Queue(), min(FanoutHostStartTimeout, b), b))
		futures[i] = workflow.ExecuteActivity(actx, ht.Name(), reqs[i], activities.CallInfo{Version: t.Version})
	}
	out := fanoutResult{Hosts: make([]fanoutHost, len(up.Hosts))}
	for i, h := range up.Hosts {
		out.Hosts[i].Host = h
		var res json.RawMessage
		err := futures[i].Get(ctx, &res)
		if err == nil {
			out.Hosts[i].Result = res
			continue
		}
		if ctx.Err() != nil {
			return fanoutResult{}, err
		}
		ht := t
		ht.Host = h
		out.Hosts[i].Error = hostError(callError(ht.Name(), ht.Queue(), min(FanoutHostStartTimeout, b), b, err))
	}
	return out, nil
}

// hostError describes a host's failure in a fanout.
func hostError(err error) *workflows.HostError {
	if e, ok := managers.AsError(activities.FromApplicationError(err)); ok {
		return &workflows.HostError{Type: e.Type, Field: e.Field, Message: e.Message}
	}
	return &workflows.HostError{Type: errorType, Message: err.Error()}
}
