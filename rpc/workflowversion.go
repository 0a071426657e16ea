package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
)

// Calls from workflow code (CallFromWorkflow, CastFromWorkflow,
// FanoutFromWorkflow) are versioned and capped like a Client's. Workflow
// code cannot read the settings or the services table, so it asks, for
// each call, the local activity CallVersionName: it runs in the process
// that runs the workflow task (the calling service), with that service's
// NOVAFLOW_UPGRADE_LEVELS_<TOPIC> (fixed, or "auto" from the services
// table) and its registered manager definitions (the version of the method
// it speaks), and its answer is recorded in the history, so a replay sends
// the same version. Executions recorded before this change replay without
// it (workflow.GetVersion, change ID versionedCallsChange).

// CallVersionName is the local activity that tells workflow code the
// version it speaks of a method and its upgrade level for the method's
// topic (CallVersionRequest, CallVersionResult). Every service registers it
// (Client.RegisterActivities); a worker of your own that runs workflows
// calling CallFromWorkflow and friends must register it too.
const CallVersionName = "novaflow.call_version"

// versionedCallsChange is the workflow.GetVersion change ID of versioned
// calls from workflow code: histories recorded without it (before the
// change) keep making their calls unversioned, as they did.
const versionedCallsChange = "novaflow.rpc.versioned-calls"

// callVersionTimeout bounds the local activity CallVersionName (an "auto"
// level reads the services table at most every 30 s).
const callVersionTimeout = 10 * time.Second

// CallVersionRequest is the input of CallVersionName.
type CallVersionRequest struct {
	// Topic is the topic called.
	Topic string `json:"topic"`
	// Method is the method called; empty: only the level is wanted.
	Method string `json:"method,omitempty"`
	// Version is the version the caller named (rpc.Version); empty: the
	// method's version in the calling process's manager definition.
	Version string `json:"version,omitempty"`
}

// CallVersionResult is the result of CallVersionName.
type CallVersionResult struct {
	// Speaks is the version the caller writes the request for; empty when
	// unknown (the call is unversioned).
	Speaks string `json:"speaks,omitempty"`
	// Known says the calling process's manager definitions declare the
	// method (Since is then meaningful, and a request can be made older).
	Known bool `json:"known,omitempty"`
	// Since is the version that added the method, when known and not minor
	// 0 of its major.
	Since string `json:"since,omitempty"`
	// Level is the topic's upgrade level in the calling process; empty: no
	// cap.
	Level string `json:"level,omitempty"`
	// Why says where the level comes from, for messages.
	Why string `json:"why,omitempty"`
}

// RegisterActivities registers on r the activities that workflow code
// running on r's worker needs to make versioned calls with c's settings:
// CallVersionName. worker.Service registers it with its own settings.
func (c *Client) RegisterActivities(r activities.Registry) {
	r.RegisterActivityWithOptions(c.CallVersion, activity.RegisterOptions{Name: CallVersionName})
}

// CallVersion is the activity CallVersionName: the version the caller
// speaks of req's method (req.Version, else this client's knowledge of
// the method, see Client.Call) and the topic's upgrade level.
func (c *Client) CallVersion(ctx context.Context, req CallVersionRequest) (CallVersionResult, error) {
	if req.Topic == "" {
		return CallVersionResult{}, activities.ToApplicationError(managers.InvalidArgument("topic", "is required"))
	}
	l, err := c.level(ctx, req.Topic)
	if err != nil {
		return CallVersionResult{}, fmt.Errorf("upgrade level of topic %s: %w", req.Topic, err)
	}
	res := CallVersionResult{Level: l.version, Why: l.why}
	if req.Method != "" {
		mi := c.info(req.Topic, req.Method, req.Version)
		res.Speaks, res.Known, res.Since = mi.speaks, mi.known, mi.since
	}
	return res, nil
}

// askCallVersion runs CallVersionName for req within timeout.
func askCallVersion(ctx workflow.Context, req CallVersionRequest, timeout time.Duration) (CallVersionResult, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: max(min(timeout, callVersionTimeout), time.Second),
		RetryPolicy:            retryPolicy(),
	})
	var res CallVersionResult
	if err := workflow.ExecuteLocalActivity(lctx, CallVersionName, req).Get(ctx, &res); err != nil {
		if e, ok := managers.AsError(activities.FromApplicationError(err)); ok {
			return res, e
		}
		return res, fmt.Errorf("version and upgrade level of a call to topic %s (%s): %w", req.Topic, CallVersionName, err)
	}
	return res, nil
}

// versionedRequest sets t.Version for a call from workflow code and returns
// its request, encoded in the form that version understands, and its target
// host (see encodeAt). Histories recorded before versioned calls keep the
// old behaviour: the Version option only, the request as it is.
func versionedRequest(ctx workflow.Context, t *target, req any, o callOptions) (json.RawMessage, string, error) {
	if workflow.GetVersion(ctx, versionedCallsChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		t.Version = o.version
		return encodeRequest(req, o.host)
	}
	res, err := askCallVersion(ctx, CallVersionRequest{Topic: t.Topic, Method: t.Method, Version: o.version}, o.timeout)
	if err != nil {
		return nil, "", err
	}
	mi := methodInfo{speaks: res.Speaks, known: res.Known, since: res.Since}
	l := level{version: res.Level, why: res.Why}
	if t.Version, err = sendVersion(t.Name(), t.Topic, mi, l); err != nil {
		return nil, "", err
	}
	if t.Version != mi.speaks && structType(req) == nil {
		mi.rt = registeredRequestType(t.Topic, t.Method)
	}
	return encodeAt(req, o.host, t.Name(), t.Method, mi, t.Version, l.why)
}

// registeredRequestType is the request type of method in the topic's
// registered default manager definition (managers.Definition.Methods), or
// nil: what makes a JSON request older in workflow code. It reads only the
// binary's registry, so a replay by the same build finds the same.
func registeredRequestType(topic, method string) reflect.Type {
	def, err := managers.ForTopic(topic, "")
	if err != nil {
		return nil
	}
	if m, ok := def.Method(method); ok {
		return m.RequestType()
	}
	return nil
}

// UpgradeLevelFromWorkflow is Client.UpgradeLevel for workflow code: the
// version cap of calls to topic in the service that runs the workflow task
// ("" for none), read through the local activity CallVersionName and
// recorded in the history.
func UpgradeLevelFromWorkflow(ctx workflow.Context, topic string) (string, error) {
	res, err := askCallVersion(ctx, CallVersionRequest{Topic: topic}, callVersionTimeout)
	return res.Level, err
}

// CanSendVersionFromWorkflow is Client.CanSendVersion for workflow code, as
// oslo's can_send_version: whether a call at version may be sent to topic
// under the upgrade level of the service that runs the workflow task. A
// workflow uses it to choose the form of a request, or whether to call a
// method added in a later minor. The answer is recorded in the history (a
// local activity), so a replay takes the same branch; adding the check to a
// workflow that already runs needs a workflow.GetVersion of its own, as any
// new step does.
func CanSendVersionFromWorkflow(ctx workflow.Context, topic, version string) (bool, error) {
	if _, _, err := managers.ParseVersion(version); err != nil {
		return false, managers.InvalidArgument("version", "%v", err)
	}
	lvl, err := UpgradeLevelFromWorkflow(ctx, topic)
	if err != nil || lvl == "" {
		return err == nil, err
	}
	cmp, err := managers.CompareVersions(version, lvl)
	if err != nil {
		return false, err
	}
	return cmp <= 0, nil
}
