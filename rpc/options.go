package rpc

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/novaflow/novaflow/managers"
)

// Defaults of the settings: what a zero timeout in ClientOptions or
// managers.RPCSettings falls back to, and the values worker.DefaultConfig
// takes for NOVAFLOW_RPC_RESPONSE_TIMEOUT and NOVAFLOW_CAST_TIMEOUT.
const (
	// DefaultResponseTimeout is how long a call waits for its result
	// (NOVAFLOW_RPC_RESPONSE_TIMEOUT).
	DefaultResponseTimeout = 60 * time.Second
	// DefaultCastTimeout is how long a cast waits for its target
	// (NOVAFLOW_CAST_TIMEOUT).
	DefaultCastTimeout = time.Hour
)

// CallOption tunes one Call, Cast or Fanout.
type CallOption func(*callOptions)

type callOptions struct {
	host      string
	requestID string
	timeout   time.Duration
	version   string
	remote    bool
}

// ToHost sends the call to host only (task queue <topic>.<host>) instead of
// any host of the topic.
func ToHost(host string) CallOption { return func(o *callOptions) { o.host = host } }

// RequestID makes the execution idempotent: the same request ID of the same
// topic, method and host is the same workflow ID and never runs the method
// twice. Without it, each call gets a new UUID.
func RequestID(id string) CallOption { return func(o *callOptions) { o.requestID = id } }

// Timeout replaces the client's response timeout (Call, Fanout) or cast
// timeout (Cast) for this call: the execution's deadline.
func Timeout(d time.Duration) CallOption { return func(o *callOptions) { o.timeout = d } }

// Version says which version ("major.minor") of the method the request is
// written for. Without it, a call is at the version of the method as this
// process knows it: a local service's (AddLocal), else the topic's manager
// definition's (managers.Definition.Methods); a method the process does not
// know goes unversioned (served as whatever the target speaks). Above the
// topic's upgrade level the call is sent at the level, in the form it
// understands (managers.Backport), or refused at the caller with
// UnsupportedVersion; the target refuses a version it does not speak.
func Version(v string) CallOption { return func(o *callOptions) { o.version = v } }

// Remote makes a call go through Temporal even when its target is a local
// service (AddLocal): recorded, visible in the Web UI, retried.
func Remote() CallOption { return func(o *callOptions) { o.remote = true } }

func applyOptions(opts []CallOption, timeout time.Duration) (callOptions, error) {
	o := callOptions{timeout: timeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		return o, managers.InvalidArgument("timeout", "must be positive, got %s", o.timeout)
	}
	if o.host != "" && o.host != AllHosts && !ValidHost(o.host) {
		return o, managers.InvalidArgument(managers.HostField, "%q is not a host name", o.host)
	}
	if len(o.requestID) > 200 {
		return o, managers.InvalidArgument("request_id", "is longer than 200 bytes")
	}
	if o.version != "" {
		if _, _, err := managers.ParseVersion(o.version); err != nil {
			return o, managers.InvalidArgument("version", "%v", err)
		}
	}
	return o, nil
}

// WorkflowID is the workflow ID of an RPC execution:
// <topic>.<method>/<host>/<request id>, with host "-" for any host and "*"
// for a fanout. It reads well in the Web UI and makes request IDs
// idempotent.
func WorkflowID(topic, method, host, requestID string) string {
	t := target{Topic: topic, Method: method, Host: host}
	return fmt.Sprintf("%s/%s/%s", t.Name(), t.HostLabel(), requestID)
}

// encodeRequest returns the JSON of req with its "host" set to host, and the
// call's target host: host, else the request's own "host". req may be a
// struct, a map, or JSON (json.RawMessage, []byte).
func encodeRequest(req any, host string) (json.RawMessage, string, error) {
	var raw json.RawMessage
	switch v := req.(type) {
	case nil:
		raw = json.RawMessage("{}")
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		b, err := json.Marshal(req)
		if err != nil {
			return nil, "", fmt.Errorf("encode request: %w", err)
		}
		raw = b
	}
	// One parse serves the check, the request's own host and setting it.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, "", managers.InvalidArgument("", "the request must be a JSON object")
	}
	own, err := hostOf(obj)
	if err != nil {
		return nil, "", err
	}
	switch {
	case host == "":
		return raw, own, nil
	case own == "":
		out := withHostObject(obj, host)
		if out == nil {
			return nil, "", fmt.Errorf("encode request: set its host %q", host)
		}
		return out, host, nil
	case own != host:
		return nil, "", managers.InvalidArgument(managers.HostField, "the request's host %q is not the target host %q", own, host)
	}
	return raw, host, nil
}

// decodeResult stores the JSON result out in resp (nil: discarded).
func decodeResult(out json.RawMessage, resp any) error {
	switch p := resp.(type) {
	case nil:
		return nil
	case *json.RawMessage:
		*p = append((*p)[:0], out...)
		return nil
	}
	if err := json.Unmarshal(out, resp); err != nil {
		return fmt.Errorf("decode result: %w", err)
	}
	return nil
}
