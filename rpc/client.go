package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/telemetry"
	"github.com/novaflow/novaflow/workflows"
)

// waitGrace is how much longer than its deadline a Call waits for the
// execution's outcome, so that the execution's own timeout error (which says
// what timed out) usually arrives before the caller gives up.
const waitGrace = 2 * time.Second

// Options configure a Client. Only Temporal is required.
type Options struct {
	// Temporal is the client executions are started with. A process that
	// also runs services should share theirs, so calls to them may start
	// eagerly (the first workflow task runs in this process at once).
	Temporal client.Client
	// ResponseTimeout is how long Call and Fanout wait for results
	// (NOVAFLOW_RPC_RESPONSE_TIMEOUT); default DefaultResponseTimeout.
	ResponseTimeout time.Duration
	// CastTimeout is how long a cast waits for its target before it fails
	// (NOVAFLOW_CAST_TIMEOUT); default DefaultCastTimeout.
	CastTimeout time.Duration
	// Timeouts, when set, returns the current response and cast timeouts,
	// read at each call (a service's settings after SIGHUP); a zero or
	// negative value falls back to ResponseTimeout or CastTimeout.
	Timeouts func() (response, cast time.Duration)
	// UpgradeLevels caps, per topic, the version of what the client sends:
	// "major.minor" or "auto" (NOVAFLOW_UPGRADE_LEVELS_<TOPIC>, see
	// LoadUpgradeLevels). A topic without an entry has no cap.
	UpgradeLevels map[string]string
	// CurrentUpgradeLevels, when set, returns the levels as they are now (a
	// service's settings after SIGHUP), read at each call instead of
	// UpgradeLevels; its levels must be valid (LoadUpgradeLevels checks).
	CurrentUpgradeLevels func() map[string]string
	// Services is the services table, for "auto" levels.
	Services *servicegroup.Store
	// Definition returns the manager definition of a topic's services, whose
	// RPCVersions an "auto" level reads and whose Methods give the version
	// of each method a call speaks by default; default: the topic's
	// registered default manager (managers.ForTopic).
	Definition func(topic string) (managers.Definition, error)
}

// Client calls manager methods on the services of any topic. It is safe for
// concurrent use.
type Client struct {
	opts Options
	tel  *telemetry.Instruments // the span and metrics of each call

	mu     sync.Mutex
	auto   map[string]level                        // "auto" levels by topic
	defs   map[string]map[string]managers.Method   // Definition methods by topic and name
	locals map[localKey]map[string]managers.Method // methods by name
}

type localKey struct{ topic, host string }

// New returns a Client for opts.
func New(opts Options) (*Client, error) {
	if opts.Temporal == nil {
		return nil, errors.New("rpc: Options.Temporal is required")
	}
	if opts.ResponseTimeout == 0 {
		opts.ResponseTimeout = DefaultResponseTimeout
	}
	if opts.CastTimeout == 0 {
		opts.CastTimeout = DefaultCastTimeout
	}
	if opts.ResponseTimeout < 0 || opts.CastTimeout < 0 {
		return nil, errors.New("rpc: timeouts must not be negative")
	}
	if opts.Definition == nil {
		opts.Definition = func(topic string) (managers.Definition, error) { return managers.ForTopic(topic, "") }
	}
	levels := make(map[string]string, len(opts.UpgradeLevels))
	for topic, v := range opts.UpgradeLevels {
		if err := validLevel(v); err != nil {
			return nil, fmt.Errorf("rpc: %s: %w", UpgradeLevelEnv(topic), err)
		}
		if v == AutoLevel && opts.Services == nil {
			return nil, fmt.Errorf("rpc: %s=auto needs Options.Services (the services table)", UpgradeLevelEnv(topic))
		}
		levels[topic] = v
	}
	opts.UpgradeLevels = levels
	return &Client{opts: opts, tel: telemetry.NewInstruments(), auto: map[string]level{}, defs: map[string]map[string]managers.Method{}, locals: map[localKey]map[string]managers.Method{}}, nil
}

// responseTimeout is the current response timeout (Options.Timeouts, else
// Options.ResponseTimeout).
func (c *Client) responseTimeout() time.Duration {
	if c.opts.Timeouts != nil {
		if r, _ := c.opts.Timeouts(); r > 0 {
			return r
		}
	}
	return c.opts.ResponseTimeout
}

// castTimeout is the current cast timeout (Options.Timeouts, else
// Options.CastTimeout).
func (c *Client) castTimeout() time.Duration {
	if c.opts.Timeouts != nil {
		if _, ct := c.opts.Timeouts(); ct > 0 {
			return ct
		}
	}
	return c.opts.CastTimeout
}

// Call runs method of topic with req and stores its JSON result in resp
// (a pointer, or nil to discard it). req is a struct, a map or JSON
// (json.RawMessage, []byte) of a JSON object.
//
// It waits for at most the response timeout (or Timeout, or ctx's deadline
// when sooner). When no result came in that time, the error matches
// ErrTimeout: with ToHost, a dead host fails that way within the timeout. The
// method's typed errors come back as *managers.Error with their Type and
// Field. A call to a local service (AddLocal) runs directly, unless it has a
// RequestID or Remote.
func (c *Client) Call(ctx context.Context, topic, method string, req, resp any, opts ...CallOption) (err error) {
	ctx, done := c.tel.StartRPC(ctx, telemetry.Call, topic, method)
	defer func() { done(err) }()
	o, err := applyOptions(opts, c.responseTimeout())
	if err != nil {
		return err
	}
	t, raw, err := c.target(ctx, topic, method, req, o)
	if err != nil {
		return err
	}
	if t.Host == AllHosts {
		return managers.InvalidArgument(managers.HostField, "use Fanout to call every host")
	}
	timeout, err := callTimeout(ctx, t, o.timeout)
	if err != nil {
		return err
	}
	if m, ok := c.local(t); ok && o.requestID == "" && !o.remote {
		return callLocal(ctx, t, m, raw, resp, timeout)
	}
	// A call to a host runs its workflow on the host's own queue, where the
	// method runs as a local activity (runMethod).
	run, err := c.start(ctx, t, t.Queue(), raw, o.requestID, timeout)
	if err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout+waitGrace)
	defer cancel()
	var out json.RawMessage
	if err := run.Get(waitCtx, &out); err != nil {
		return executionError(t, timeout, waitCtx, err)
	}
	return decodeResult(out, resp)
}

// Execution identifies a started RPC execution.
type Execution struct {
	// WorkflowID is the execution's workflow ID (WorkflowID).
	WorkflowID string
	// RunID is its run; with a RequestID that was used before, the run
	// that used it.
	RunID string
}

// Cast starts method of topic with req and returns once the execution is
// durably recorded, without waiting for it to run. It runs even when the
// target is down now: it waits for it up to the cast timeout (or Timeout),
// then fails, visibly in the Web UI. A cast with a RequestID that was used
// before starts nothing and returns the earlier execution.
func (c *Client) Cast(ctx context.Context, topic, method string, req any, opts ...CallOption) (_ Execution, err error) {
	ctx, done := c.tel.StartRPC(ctx, telemetry.Cast, topic, method)
	defer func() { done(err) }()
	o, err := applyOptions(opts, c.castTimeout())
	if err != nil {
		return Execution{}, err
	}
	t, raw, err := c.target(ctx, topic, method, req, o)
	if err != nil {
		return Execution{}, err
	}
	if t.Host == AllHosts {
		return Execution{}, managers.InvalidArgument(managers.HostField, "a cast goes to one host or any host; use Fanout for every host")
	}
	run, err := c.start(ctx, t, t.Topic, raw, o.requestID, o.timeout)
	if err != nil {
		return Execution{}, err
	}
	return Execution{WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
}

// Result waits for the outcome of an execution that Cast started and stores
// its result in resp (a pointer, or nil), with Call's errors: the method's
// typed errors as *managers.Error, a Timeout when the cast ran out of time.
// It waits as long as ctx allows.
func (c *Client) Result(ctx context.Context, exec Execution, resp any) error {
	var out json.RawMessage
	if err := c.opts.Temporal.GetWorkflow(ctx, exec.WorkflowID, exec.RunID).Get(ctx, &out); err != nil {
		var te *temporal.TimeoutError
		if errors.As(err, &te) {
			return timeoutf("%s: no result within its deadline", exec.WorkflowID)
		}
		if e, ok := managers.AsError(activities.FromApplicationError(err)); ok {
			return e
		}
		return fmt.Errorf("result of %s: %w", exec.WorkflowID, err)
	}
	return decodeResult(out, resp)
}

// HostResult is one host's outcome in a fanout.
type HostResult struct {
	// Host is the host.
	Host string
	// Result is the method's JSON result on the host, when it succeeded.
	Result json.RawMessage
	// Err is the host's error, when it failed: a *managers.Error, of type
	// Timeout when the host did not take or finish the call in time.
	Err error
}

// Decode stores the host's result in v.
func (r HostResult) Decode(v any) error {
	if r.Err != nil {
		return r.Err
	}
	return decodeResult(r.Result, v)
}

// Fanout runs method of topic with req on every up host (disabled included) of the
// topic (from the services table), in one execution, and returns each host's
// result or error, in host order. A host that does not take its call within
// FanoutHostStartTimeout gets a Timeout error; the fanout does not
// wait for it. The error is for the fanout as a whole: a bad request, or no
// result within the response timeout (ErrTimeout).
func (c *Client) Fanout(ctx context.Context, topic, method string, req any, opts ...CallOption) (_ []HostResult, err error) {
	ctx, done := c.tel.StartRPC(ctx, telemetry.Fanout, topic, method)
	defer func() { done(err) }()
	o, err := applyOptions(opts, c.responseTimeout())
	if err != nil {
		return nil, err
	}
	if o.host != "" {
		return nil, managers.InvalidArgument(managers.HostField, "a fanout goes to every host; drop ToHost")
	}
	o.host = AllHosts
	t, raw, err := c.target(ctx, topic, method, req, o)
	if err != nil {
		return nil, err
	}
	timeout, err := callTimeout(ctx, t, o.timeout)
	if err != nil {
		return nil, err
	}
	run, err := c.start(ctx, t, t.Topic, raw, o.requestID, timeout)
	if err != nil {
		return nil, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout+waitGrace)
	defer cancel()
	var res fanoutResult
	if err := run.Get(waitCtx, &res); err != nil {
		return nil, executionError(t, timeout, waitCtx, err)
	}
	return hostResults(res), nil
}

// hostResults converts a fanout's result for Go callers.
func hostResults(res fanoutResult) []HostResult {
	out := make([]HostResult, len(res.Hosts))
	for i, h := range res.Hosts {
		out[i] = HostResult{Host: h.Host, Result: h.Result}
		if h.Error != nil {
			out[i].Err = &managers.Error{Type: h.Error.Type, Field: h.Error.Field, Message: h.Error.Message}
		}
	}
	return out
}

// callTimeout is how long a call may take: timeout, or what is left of
// ctx's deadline when that is sooner; a Timeout error when nothing is left.
func callTimeout(ctx context.Context, t target, timeout time.Duration) (time.Duration, error) {
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return 0, timeoutf("%s: the caller's deadline passed before the call", t.Name())
		}
		timeout = min(timeout, left)
	}
	return timeout, nil
}

// target validates a call and returns where it goes and its request: at
// the version the caller speaks (Version, else the method's version this
// client knows: a local service's, or the topic's manager definition's
// Methods), capped by the topic's upgrade level (sendVersion), in the form
// that version understands (encodeAt).
func (c *Client) target(ctx context.Context, topic, method string, req any, o callOptions) (target, json.RawMessage, error) {
	t := target{Topic: topic, Method: method}
	mi := c.info(topic, method, o.version)
	var l level
	if mi.speaks != "" {
		var err error
		if l, err = c.level(ctx, topic); err != nil {
			return target{}, nil, fmt.Errorf("upgrade level of topic %s: %w", topic, err)
		}
		if t.Version, err = sendVersion(t.Name(), topic, mi, l); err != nil {
			return target{}, nil, err
		}
	}
	raw, host, err := encodeAt(req, o.host, t.Name(), method, mi, t.Version, l.why)
	if err != nil {
		return target{}, nil, err
	}
	t.Host = host
	return t, raw, nil
}

// start starts (or, for a used request ID, finds) the execution of t on
// task queue queue: the topic's, or for a call to a host the host's. It asks
// for eager start when a service of this process polls that queue, so that
// the first workflow task runs here without a round trip.
func (c *Client) start(ctx context.Context, t target, queue string, raw json.RawMessage, requestID string, timeout time.Duration) (client.WorkflowRun, error) {
	if requestID == "" {
		requestID = uuid.NewString()
	}
	attrs := []temporal.SearchAttributeUpdate{
		workflows.TopicKey.ValueSet(t.Topic),
		workflows.HostKey.ValueSet(t.HostLabel()),
		workflows.MethodKey.ValueSet(t.Method),
	}
	if m, ok := c.method(t.Topic, t.Method); ok {
		if obj := objectOf(raw, m.Object); obj != "" {
			attrs = append(attrs, workflows.InstanceKey.ValueSet(obj))
		}
	}
	opts := client.StartWorkflowOptions{
		ID:                       WorkflowID(t.Topic, t.Method, t.Host, requestID),
		TaskQueue:                queue,
		WorkflowExecutionTimeout: max(timeout, time.Second),
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(attrs...),
		EnableEagerStart:         c.servesQueue(t, queue),
	}
	if t.Version != "" {
		opts.Memo = map[string]any{VersionMemo: t.Version}
	}
	run, err := c.opts.Temporal.ExecuteWorkflow(ctx, opts, t.Name(), raw)
	if err != nil {
		return nil, fmt.Errorf("start %s on task queue %s: %w", t.Name(), queue, err)
	}
	return run, nil
}
