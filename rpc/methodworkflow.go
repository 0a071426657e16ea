package rpc

import (
	"encoding/json"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/workflows"
)

// Routing values of a call's target host.
const (
	// AnyHost is the host of a call that any service of the topic may run
	// (its NovaflowHost search attribute and workflow ID part).
	AnyHost = "-"
	// AllHosts, as the request's "host", makes the call a fanout: it runs on
	// every up host of the topic, disabled ones included.
	AllHosts = "*"
)

// VersionMemo is the memo field that carries the version ("major.minor") a
// caller wrote its request for; without it a call is at the method's own
// version. From the shell: --memo 'NovaflowVersion="1.2"'.
const VersionMemo = "NovaflowVersion"

// Registry is the part of a Temporal worker that workflows are registered on.
type Registry interface {
	RegisterWorkflowWithOptions(w interface{}, options workflow.RegisterOptions)
}

// WorkflowOptions tune the RPC workflows a service registers.
type WorkflowOptions struct {
	// CurrentDefaultTimeout, when set, returns DefaultTimeout as it is now
	// (a service's settings after SIGHUP): read when an execution starts
	// without a timeout, and recorded in its history like DefaultTimeout.
	CurrentDefaultTimeout func() time.Duration
	// DefaultTimeout is the deadline of an execution started without an
	// execution or run timeout, such as `temporal workflow start` without
	// --execution-timeout: the service's NOVAFLOW_CAST_TIMEOUT. The value an
	// execution uses is recorded in its history (a side effect), so replays
	// agree with the first run whatever the setting is then.
	DefaultTimeout time.Duration
	// Routed says the topic's manager is a managers.Router: a call of a
	// method with an Object and no "host" first asks activity
	// <topic>.find_host (on any host of the topic) where the object lives.
	Routed bool
}

// defaultTimeout is the deadline of an execution started without one, as
// the settings say now. executionDeadline only uses it inside a side effect, so a
// replay sees the value the first run recorded.
func (o WorkflowOptions) defaultTimeout() time.Duration {
	if o.CurrentDefaultTimeout != nil {
		if d := o.CurrentDefaultTimeout(); d > 0 {
			return d
		}
	}
	if o.DefaultTimeout > 0 {
		return o.DefaultTimeout
	}
	return DefaultCastTimeout
}

// RegisterWorkflows registers, for each method, the workflow type
// <topic>.<method> (MethodWorkflow) on r. With Worker Versioning on, RPC
// executions auto-upgrade: they are short, and replay tests keep each
// release able to finish the previous one's executions (docs/rpc.md).
func RegisterWorkflows(r Registry, topic string, methods []managers.Method, opts WorkflowOptions) {
	for _, m := range methods {
		r.RegisterWorkflowWithOptions(MethodWorkflow(topic, m, opts), workflow.RegisterOptions{
			Name:               activities.Name(topic, m.Name),
			VersioningBehavior: workflow.VersioningBehaviorAutoUpgrade,
		})
	}
}

// MethodWorkflow returns the workflow of type <topic>.<method>: one RPC call
// of m as a workflow execution. Its input is the method's JSON request, as
// `temporal workflow start --input '{...}'` sends it; its result is the
// method's JSON result.
//
// The request's top-level "host" routes the call: absent, null or "" runs it
// on any host of the topic (task queue <topic>), unless the execution was
// started on a host's queue <topic>.<host>, which then is the target; a host
// name runs it on <topic>.<host>; "*" runs it on every up host (disabled
// included) and returns {"hosts":[{"host","result" or "error"}...]}, one
// entry per host in host order. The method sees "host" only when its request
// declares that field (see managers.NewMethod).
//
// Before anything is dispatched the workflow decodes the request as the
// method would, so a malformed request fails the execution at once with a
// non-retryable InvalidArgument error naming the field. It does so only when
// its own code speaks the call's version (VersionMemo): a request newer than
// this worker's code is left to the target, which decodes it again anyway.
//
// The execution's deadline is its execution (or run) timeout, else
// WorkflowOptions.DefaultTimeout; the call's activity gets that deadline,
// minus a margin to report the outcome, as its schedule-to-start and
// schedule-to-close timeouts. The workflow upserts the
// search attributes NovaflowTopic, NovaflowHost, NovaflowMethod and, when the
// method declares an object, NovaflowInstance, when the starter did not set
// them.
func MethodWorkflow(topic string, m managers.Method, opts WorkflowOptions) func(ctx workflow.Context, input converter.RawValue) (json.RawMessage, error) {
	return func(ctx workflow.Context, input converter.RawValue) (json.RawMessage, error) {
		raw, err := inputJSON(input)
		if err != nil {
			return nil, activities.ToApplicationError(err)
		}
		host, err := requestHost(raw)
		if err != nil {
			return nil, activities.ToApplicationError(err)
		}
		if host == "" {
			if h := queueHost(topic, workflow.GetInfo(ctx).TaskQueueName); h != "" {
				host = h
				raw = withHost(raw, h)
			}
		}
		version, err := memoVersion(ctx)
		if err != nil {
			return nil, activities.ToApplicationError(err)
		}
		deadline := executionDeadline(ctx, opts.defaultTimeout())
		t := target{Topic: topic, Method: m.Name, Host: host, Version: version}

		// First the search attributes, so that a run started from the shell
		// can be found by topic and host even when its request is rejected.
		if err := upsertSearchAttributes(ctx, t, m.Object, raw); err != nil {
			return nil, err
		}
		// Validate here only what this code can judge: a request at a version
		// this code speaks. A fanout of a method that declares "host" is
		// validated per host, once the hosts are known.
		validate := speaks(m, version)
		perHost := host == AllHosts && m.Declares(managers.HostField)
		if validate && !perHost {
			if _, err := m.Decode(raw); err != nil {
				return nil, activities.ToApplicationError(err)
			}
		}
		if host == "" && opts.Routed && m.Object != "" {
			if obj := objectOf(raw, m.Object); obj != "" {
				if t.Host, err = findHost(ctx, t, obj, deadline); err != nil {
					return nil, err
				}
				if err := workflow.UpsertTypedSearchAttributes(ctx, workflows.HostKey.ValueSet(t.Host)); err != nil {
					return nil, err
				}
				return runMethod(ctx, t, withHost(raw, t.Host), deadline)
			}
		}
		if host != AllHosts {
			return runMethod(ctx, t, raw, deadline)
		}
		var check func(json.RawMessage) error
		if validate && perHost {
			check = func(req json.RawMessage) error {
				_, err := m.Decode(req)
				return err
			}
		}
		res, err := fanout(ctx, t, raw, deadline, check)
		if err != nil {
			return nil, err
		}
		out, err := json.Marshal(res)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// target says which method a call runs, where, and at which version.
type target struct {
	// Topic is the topic of the services that run the method.
	Topic string
	// Method is the method's name.
	Method string
	// Host is the host to run on; "" (or AnyHost) for any host of the topic,
	// AllHosts for every host.
	Host string
	// Version is the version the request is written for; "" for the
	// method's own.
	Version string
}

// Name is the call's activity and workflow type: <topic>.<method>.
func (t target) Name() string { return activities.Name(t.Topic, t.Method) }

// Queue is the task queue the call's activity runs on: <topic>.<host> for a
// host, else <topic>.
func (t target) Queue() string {
	if t.Host == "" || t.Host == AnyHost || t.Host == AllHosts {
		return t.Topic
	}
	return workflows.HostQueue(t.Topic, t.Host)
}

// HostLabel is the host as search attribute NovaflowHost and workflow IDs
// show it: the host, AnyHost or AllHosts.
func (t target) HostLabel() string {
	if t.Host == "" {
		return AnyHost
	}
	return t.Host
}

// inputJSON returns the JSON of the workflow's input payload: plain JSON as
// the CLI and the SDK's JSON converter send it; no input is an empty request.
// Any other encoding, or a payload over managers.MaxRequestLen bytes, is an
// InvalidArgument error.
func inputJSON(input converter.RawValue) (json.RawMessage, error) {
	p := input.Payload()
	if p == nil {
		return json.RawMessage("{}"), nil
	}
	if n := len(p.GetData()); n > managers.MaxRequestLen {
		return nil, managers.InvalidArgument("", "the request is %d bytes: at most %d", n, managers.MaxRequestLen)
	}
	switch enc := string(p.GetMetadata()[converter.MetadataEncoding]); enc {
	case converter.MetadataEncodingJSON:
		return json.RawMessage(p.GetData()), nil
	case converter.MetadataEncodingNil:
		return json.RawMessage("{}"), nil
	default:
		return nil, managers.InvalidArgument("", "the input must be a JSON object (encoding %s), got encoding %q", converter.MetadataEncodingJSON, enc)
	}
}

// requestHost returns the request's routing host: "" when absent, null or
// empty, AllHosts for a fanout, else a host name. A value that is not a
// string, or not a valid host name, is an InvalidArgument error for field
// "host". A request that is not a JSON object has no host (decoding it
// reports the error).
func requestHost(raw json.RawMessage) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", nil
	}
	return hostOf(obj)
}

// hostOf is requestHost of a request already parsed as a JSON object.
func hostOf(obj map[string]json.RawMessage) (string, error) {
	v, ok := obj[managers.HostField]
	if !ok || string(v) == "null" {
		return "", nil
	}
	var host string
	if err := json.Unmarshal(v, &host); err != nil {
		return "", managers.InvalidArgument(managers.HostField, "want a host name (a string), got JSON %s", v)
	}
	if host == "" || host == AllHosts {
		return host, nil
	}
	if !ValidHost(host) {
		return "", managers.InvalidArgument(managers.HostField, "%q is not a host name: want letters, digits, '-', '_' and '.', at most 200", host)
	}
	return host, nil
}

// ValidHost reports whether h can be a host name (and part of a task queue
// name): 1 to 200 letters, digits, '-', '_' and '.', as NOVAFLOW_HOST.
func ValidHost(h string) bool {
	if h == "" || len(h) > 200 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// withHost returns the JSON object raw with its top-level "host" set to
// host. raw is returned unchanged when it is not a JSON object.
func withHost(raw json.RawMessage, host string) json.RawMessage {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return raw
	}
	if out := withHostObject(obj, host); out != nil {
		return out
	}
	return raw
}

// withHostObject is withHost of a request already parsed as a JSON object:
// it sets obj's "host" and returns obj's JSON, or nil when it cannot be
// encoded.
func withHostObject(obj map[string]json.RawMessage, host string) json.RawMessage {
	if obj == nil {
		obj = map[string]json.RawMessage{}
	}
	h, err := json.Marshal(host)
	if err != nil {
		return nil
	}
	obj[managers.HostField] = h
	out, err := json.Marshal(obj) // map keys are sorted: deterministic
	if err != nil {
		return nil
	}
	return out
}

// queueHost returns the host of a host queue <topic>.<host>, or "".
func queueHost(topic, queue string) string {
	h, ok := strings.CutPrefix(queue, topic+".")
	if !ok || !ValidHost(h) {
		return ""
	}
	return h
}

// memoVersion returns the execution's VersionMemo, "" when absent.
func memoVersion(ctx workflow.Context) (string, error) {
	p, ok := workflow.GetInfo(ctx).Memo.GetFields()[VersionMemo]
	if !ok {
		return "", nil
	}
	var v string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
		return "", managers.InvalidArgument(VersionMemo, "memo %s must be a string \"major.minor\": %v", VersionMemo, err)
	}
	if v == "" {
		return "", nil
	}
	if _, _, err := managers.ParseVersion(v); err != nil {
		return "", managers.InvalidArgument(VersionMemo, "memo %s: %v", VersionMemo, err)
	}
	return v, nil
}

// speaks reports whether this code's m can judge a request at version: its
// own version, or an older minor of its major.
func speaks(m managers.Method, version string) bool {
	return version == "" || m.Supports(version) == nil
}

// upsertSearchAttributes sets the execution's novaflow search attributes
// that its starter did not set (or set otherwise): a run started from the
// shell gets them here, a run started by a Client already has them and
// upserts nothing.
func upsertSearchAttributes(ctx workflow.Context, t target, object string, raw json.RawMessage) error {
	cur := workflow.GetTypedSearchAttributes(ctx)
	var updates []temporal.SearchAttributeUpdate
	set := func(key temporal.SearchAttributeKeyKeyword, value string) {
		if got, ok := cur.GetKeyword(key); !ok || got != value {
			updates = append(updates, key.ValueSet(value))
		}
	}
	set(workflows.TopicKey, t.Topic)
	set(workflows.HostKey, t.HostLabel())
	set(workflows.MethodKey, t.Method)
	if obj := objectOf(raw, object); obj != "" {
		set(workflows.InstanceKey, obj)
	}
	if len(updates) == 0 {
		return nil
	}
	return workflow.UpsertTypedSearchAttributes(ctx, updates...)
}

// maxObjectLen bounds the object objectOf returns: a longer value is no
// object name (decoding the request rejects it) and would not fit in a
// search attribute.
const maxObjectLen = 200

// objectOf returns the value of the request's top-level field (a method's
// Object) as NovaflowInstance shows it: the string, or the JSON text of a
// non-string; "" when field is "", the request lacks it, or the value is
// longer than maxObjectLen bytes.
func objectOf(raw json.RawMessage, field string) (object string) {
	defer func() {
		if len(object) > maxObjectLen {
			object = ""
		}
	}()
	if field == "" {
		return ""
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return ""
	}
	v, ok := obj[field]
	if !ok || string(v) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s
	}
	return string(v)
}

// DecodeInput decodes a workflow's input, plain JSON as `temporal workflow
// start --input` sends it, strictly into a Req, as the RPC workflows decode a
// method's request (managers.DecodeRequest): for a domain workflow that can
// be started from the shell. A bad input is an InvalidArgument
// *managers.Error naming the field; return it from the workflow through
// activities.ToApplicationError so that it fails at once, not retried.
func DecodeInput[Req any](input converter.RawValue) (Req, error) {
	raw, err := inputJSON(input)
	if err != nil {
		var zero Req
		return zero, err
	}
	return managers.DecodeRequest[Req](raw)
}
