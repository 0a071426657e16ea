package conductor

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/scheduler"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/workflows"
)

// The conductor's build, as nova's ComputeTaskManager.build_instances:
// create the instance rows, select destinations (the scheduler claims the
// first choices), build each instance on its host, and on a failure release
// the claim and reschedule to the next alternate; when the hosts are
// exhausted, mark the instance ERROR with the reason. Every step is an RPC
// method of the conductor, scheduler or compute manager, run as an activity
// on its topic's queue (compute: the host's queue).
const (
	// BuildInstancesName is the workflow type of a build request:
	// conductor.build_instances.
	BuildInstancesName = Topic + ".build_instances"
	// BuildInstanceName is the workflow type of the build of one instance,
	// a child of BuildInstancesName, searchable by NovaflowInstance.
	BuildInstanceName = Topic + ".build_instance"
	// BuildFailedType is the error type of a build request whose instances
	// did not all become active; its details hold the BuildResult.
	BuildFailedType = "BuildFailed"
	// MaxBuildCount bounds the instances of one request.
	MaxBuildCount = 1000
	// BuildStepTimeout is the deadline of each call to the conductor and the
	// scheduler.
	BuildStepTimeout = time.Minute
	// BuildTimeout is the deadline of each build_and_run_instance on a
	// host: a host that does not take the call within it is skipped for the
	// next alternate.
	BuildTimeout = 2 * time.Minute
)

// next is what the next release changes in the conductor: nil in
// novaflow's builds; set by next.go, which only the build tag novaflow_next
// compiles in (the newer variant of the reference control plane that the
// mixed-version test in faults/ runs beside this one). Its build writes
// build_and_run_instance for compute 1.1; the call is capped by compute's
// upgrade level like any call from a workflow, and the request made
// compatible with 1.0 when the level is below 1.1. It adds no step to the
// workflows, so that each release can replay the other's histories, the
// current one included after a rollback (docs/upgrades.md).
var next interface {
	// buildRequest is the request of build_and_run_instance, and its
	// options, in the child ctx.
	buildRequest(ctx workflow.Context, req computemgr.InstanceRequest) (any, []rpc.CallOption)
}

// buildWorkflows are the build workflows, as the manager declares them
// (Manager.Workflows).
func buildWorkflows() []managers.Workflow {
	return []managers.Workflow{
		{Name: BuildInstancesName, Func: BuildInstances},
		{Name: BuildInstanceName, Func: BuildInstance},
	}
}

// BuildRequest is the input of conductor.build_instances, e.g.
//
//	{"name":"web","count":2,"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},
//	 "image":{"command":["sleep","3600"]}}
type BuildRequest struct {
	// Name is the instances' display name; with a count above 1 each is
	// named <name>-<n> (nova's multi_instance_display_name_template).
	Name string `json:"name"`
	// Count is the number of instances; default 1.
	Count int `json:"count,omitempty"`
	// Flavor is the size of each instance.
	Flavor compute.Flavor `json:"flavor"`
	// Image is what each instance runs: a command (no shell) and its whole
	// environment.
	Image store.Image `json:"image"`
	// InstanceUUIDs, when set, are the instances' UUIDs (one per instance);
	// default: new ones.
	InstanceUUIDs []string `json:"instance_uuids,omitempty"`
	// MaxAttempts is how many hosts each instance may be tried on; default:
	// the scheduler's NOVAFLOW_SCHEDULER_MAX_ATTEMPTS (3).
	MaxAttempts int `json:"max_attempts,omitempty"`
	// RequestID names the request in instance_actions; default: the
	// workflow ID.
	RequestID string `json:"request_id,omitempty"`
}

// BuildResult is the result of a build request.
type BuildResult struct {
	RequestID string          `json:"request_id"`
	Instances []BuiltInstance `json:"instances"`
}

// BuiltInstance is the outcome of the build of one instance.
type BuiltInstance struct {
	UUID string `json:"uuid"`
	Name string `json:"name"`
	// Host is where the instance runs; empty when its build failed.
	Host string `json:"host,omitempty"`
	// VMState is active, error, or deleted (terminated, or its terminate
	// begun, during its build: the build left it to the terminate).
	VMState string `json:"vm_state"`
	// Fault says why the build failed.
	Fault string `json:"fault,omitempty"`
	// Attempts lists the hosts tried, in order, with their errors.
	Attempts []BuildAttempt `json:"attempts,omitempty"`
}

// BuildAttempt is one host tried for an instance.
type BuildAttempt struct {
	Host  string `json:"host"`
	Error string `json:"error,omitempty"`
}

// BuildInstanceRequest is the input of conductor.build_instance.
type BuildInstanceRequest struct {
	UUID      string `json:"uuid"`
	Name      string `json:"name"`
	RequestID string `json:"request_id"`
	// Hosts are the selected host, on which the instance is claimed, then
	// the alternates, best first.
	Hosts []string `json:"hosts"`
}

// BuildInstances is the workflow conductor.build_instances. Its input is a
// BuildRequest as plain JSON (unknown fields are refused); it returns a
// BuildResult when every instance became active, and otherwise fails with a
// non-retryable error of type BuildFailed (details: the BuildResult) that
// lists the instances in ERROR and why. A malformed request fails at once
// with InvalidArgument naming the field, before anything is created.
func BuildInstances(ctx workflow.Context, input converter.RawValue) (BuildResult, error) {
	req, err := decodeBuildRequest(input)
	if err != nil {
		return BuildResult{}, activities.ToApplicationError(err)
	}
	info := workflow.GetInfo(ctx)
	rid := req.RequestID
	if rid == "" {
		rid = info.WorkflowExecution.ID
	}
	uuids := req.InstanceUUIDs
	if len(uuids) == 0 {
		if err := workflow.SideEffect(ctx, func(workflow.Context) any {
			out := make([]string, req.Count)
			for i := range out {
				out[i] = uuid.NewString()
			}
			return out
		}).Get(&uuids); err != nil {
			return BuildResult{}, fmt.Errorf("make instance UUIDs: %w", err)
		}
	}
	sa := []temporal.SearchAttributeUpdate{workflows.TopicKey.ValueSet(Topic), workflows.HostKey.ValueSet(rpc.AnyHost),
		workflows.MethodKey.ValueSet("build_instances")}
	if len(uuids) == 1 {
		sa = append(sa, workflows.InstanceKey.ValueSet(uuids[0]))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, sa...); err != nil {
		return BuildResult{}, err
	}

	result := BuildResult{RequestID: rid}
	create := CreateRequest{RequestID: rid, Flavor: req.Flavor, Image: req.Image}
	for i, u := range uuids {
		name := req.Name
		if len(uuids) > 1 {
			name = fmt.Sprintf("%s-%d", req.Name, i+1)
		}
		create.Instances = append(create.Instances, NewInstance{UUID: u, Name: name})
		result.Instances = append(result.Instances, BuiltInstance{UUID: u, Name: name})
	}
	if err := call(ctx, Topic, "", "create_instances", create, nil, BuildStepTimeout); err != nil {
		return BuildResult{}, activities.ToApplicationError(err)
	}

	var sel scheduler.SelectResponse
	err = call(ctx, scheduler.Topic, "", "select_destinations",
		scheduler.SelectRequest{Flavor: req.Flavor, InstanceUUIDs: uuids, MaxAttempts: req.MaxAttempts}, &sel, BuildStepTimeout)
	if err == nil && len(sel.Destinations) != len(uuids) {
		err = fmt.Errorf("the scheduler returned %d destinations for %d instances", len(sel.Destinations), len(uuids))
	}
	if err != nil {
		fault := errorMessage(err)
		for i := range result.Instances {
			b := &result.Instances[i]
			b.VMState, b.Fault = "error", fault
			var inst store.Instance
			if ferr := call(ctx, Topic, "", "finish_build",
				FinishRequest{InstanceUUID: b.UUID, RequestID: rid, Fault: fault}, &inst, BuildStepTimeout); ferr != nil {
				return result, activities.ToApplicationError(ferr)
			}
			if inst.BeingDeleted() { // left to its terminate
				b.VMState, b.Fault = "deleted", ""
			}
		}
		return result, buildFailed(result)
	}

	futures := make([]workflow.ChildWorkflowFuture, len(uuids))
	for i, d := range sel.Destinations {
		b := result.Instances[i]
		cwo := workflow.ChildWorkflowOptions{
			WorkflowID:            info.WorkflowExecution.ID + "/" + b.UUID,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.TopicKey.ValueSet(Topic), workflows.HostKey.ValueSet(rpc.AnyHost),
				workflows.MethodKey.ValueSet("build_instance"), workflows.InstanceKey.ValueSet(b.UUID)),
		}
		hosts := append([]string{d.Host}, d.Alternates...)
		futures[i] = workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, cwo), BuildInstanceName,
			BuildInstanceRequest{UUID: b.UUID, Name: b.Name, RequestID: rid, Hosts: hosts})
	}
	for i, f := range futures {
		b := &result.Instances[i]
		if err := f.Get(ctx, b); err != nil {
			// A step of the child could not be done (e.g. no conductor took
			// it in time): the instance must not stay building for ever.
			b.VMState, b.Fault = "error", "build failed: "+errorMessage(err)
			var inst store.Instance
			if ferr := call(ctx, Topic, "", "finish_build",
				FinishRequest{InstanceUUID: b.UUID, RequestID: rid, Fault: b.Fault}, &inst, BuildStepTimeout); ferr != nil {
				return result, cleanupFailed(b.UUID, err, ferr)
			}
			if inst.BeingDeleted() { // left to its terminate
				b.VMState, b.Fault = "deleted", ""
			}
		}
	}
	for _, b := range result.Instances {
		if b.VMState != "active" {
			return result, buildFailed(result)
		}
	}
	return result, nil
}

// BuildInstance is the workflow conductor.build_instance: it builds one
// instance on its hosts in order, rescheduling after each failure, and ends
// its "create" action. It returns the instance's outcome; it fails only when
// a step of its own cannot be done. Its input is a BuildInstanceRequest as
// plain JSON, decoded strictly like BuildInstances' (a child of
// BuildInstances, it can be started from the shell too).
func BuildInstance(ctx workflow.Context, input converter.RawValue) (BuiltInstance, error) {
	req, err := decodeBuildInstanceRequest(input)
	if err != nil {
		return BuiltInstance{}, activities.ToApplicationError(err)
	}
	out := BuiltInstance{UUID: req.UUID, Name: req.Name}
	logger := workflow.GetLogger(ctx)
	var final error
	for i, host := range req.Hosts {
		if i > 0 { // the scheduler claimed the first host; claim the alternate
			err := call(ctx, Topic, "", "claim_instance", ClaimRequest{InstanceUUID: req.UUID, DestHost: host}, nil, BuildStepTimeout)
			if isType(err, managers.NotFoundType) {
				out.VMState = "deleted"
				return out, nil
			}
			// Being deleted: no other host can do better, and its
			// terminate owns the instance (nova aborts the build on
			// UnexpectedDeletingTaskStateError). Builds that went on to the
			// next host before this change keep doing so in a replay.
			if store.IsDeleting(err) &&
				workflow.GetVersion(ctx, deletingEndsBuildChange, workflow.DefaultVersion, 1) == 1 {
				out.Attempts = append(out.Attempts, BuildAttempt{Host: host, Error: "claim: " + errorMessage(err)})
				final = err
				break
			}
			if err != nil {
				out.Attempts = append(out.Attempts, BuildAttempt{Host: host, Error: "claim: " + errorMessage(err)})
				continue
			}
		}
		var inst store.Instance
		var breq any = computemgr.InstanceRequest{InstanceUUID: req.UUID, RequestID: req.RequestID}
		var bopts []rpc.CallOption
		if next != nil {
			breq, bopts = next.buildRequest(ctx, computemgr.InstanceRequest{InstanceUUID: req.UUID, RequestID: req.RequestID})
		}
		err := call(ctx, computemgr.Topic, host, "build_and_run_instance", breq, &inst, BuildTimeout, bopts...)
		if err == nil {
			out.Attempts = append(out.Attempts, BuildAttempt{Host: host})
			out.Host, out.VMState = inst.Host, string(inst.VMState)
			if ferr := call(ctx, Topic, "", "finish_build",
				FinishRequest{InstanceUUID: req.UUID, RequestID: req.RequestID}, nil, BuildStepTimeout); ferr != nil {
				return out, activities.ToApplicationError(ferr)
			}
			return out, nil
		}
		out.Attempts = append(out.Attempts, BuildAttempt{Host: host, Error: errorMessage(err)})
		logger.Warn("build failed on host", "instance", req.UUID, "host", host, "error", err)
		// The compute service releases its claim when it can; a host that
		// never took the call cannot.
		if rerr := call(ctx, Topic, "", "release_claim", ClaimRequest{InstanceUUID: req.UUID, DestHost: host}, nil, BuildStepTimeout); rerr != nil {
			return out, activities.ToApplicationError(rerr)
		}
		if isType(err, managers.NotFoundType) {
			out.VMState = "deleted"
			return out, nil
		}
		if isType(err, managers.InvalidArgumentType) || isType(err, managers.ConflictType) {
			final = err // no other host can do better
			break
		}
	}
	switch {
	case final != nil:
		out.Fault = fmt.Sprintf("Build of instance %s aborted: %s", req.UUID, errorMessage(final))
	default:
		out.Fault = fmt.Sprintf("Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance %s (%s)",
			req.UUID, attemptSummary(out.Attempts))
	}
	out.VMState = "error"
	// finish_build leaves an instance being deleted as it is: the delete
	// wins, and the result says so.
	var inst store.Instance
	err = call(ctx, Topic, "", "finish_build",
		FinishRequest{InstanceUUID: req.UUID, RequestID: req.RequestID, Fault: out.Fault}, &inst, BuildStepTimeout)
	if isType(err, managers.NotFoundType) || (err == nil && inst.BeingDeleted()) {
		out.VMState, out.Fault = "deleted", ""
		return out, nil
	}
	return out, activities.ToApplicationError(err)
}

// deletingEndsBuildChange is the workflow.GetVersion change ID of a build
// that stops when the claim of an alternate host is refused because the
// instance is being deleted (version 1); before it (DefaultVersion), the
// build tried the next host.
const deletingEndsBuildChange = "conductor.build.deleting-ends-build"

// call runs method of topic (on host, when set) from the workflow with
// rpc.CallFromWorkflow, with a deadline of timeout from now, and stores its
// result in resp (nil: dropped). Its error is the method's typed error as a
// *managers.Error (a Timeout when no host took or finished the call in time).
func call(ctx workflow.Context, topic, host, method string, req, resp any, timeout time.Duration, more ...rpc.CallOption) error {
	opts := append([]rpc.CallOption{rpc.Timeout(timeout)}, more...)
	if host != "" {
		opts = append(opts, rpc.ToHost(host))
	}
	return rpc.CallFromWorkflow(ctx, topic, method, req, resp, opts...)
}

// cleanupFailed is the error of a build whose instance u failed (err) and
// could not be marked ERROR (ferr). A typed ferr keeps its type, and so its
// retryability: a PolicyDenied (the caller may not finish the build) stays
// non-retryable instead of becoming a retryable wrapped error.
func cleanupFailed(u string, err, ferr error) error {
	msg := fmt.Sprintf("build instance %s: %s (and marking it ERROR failed: %s)", u, errorMessage(err), errorMessage(ferr))
	if e, ok := managers.AsError(ferr); ok {
		return activities.ToApplicationError(&managers.Error{Type: e.Type, Field: e.Field, Message: msg})
	}
	if e, ok := managers.AsError(err); ok {
		return activities.ToApplicationError(&managers.Error{Type: e.Type, Field: e.Field, Message: msg})
	}
	return fmt.Errorf("build instance %s: %w (and marking it ERROR failed: %v)", u, err, ferr)
}

// isType reports whether err is a typed error of type typ.
func isType(err error, typ string) bool {
	e, ok := managers.AsError(err)
	return ok && e.Type == typ
}

// errorMessage is err as a fault shows it: a typed error's type and message.
func errorMessage(err error) string {
	if e, ok := managers.AsError(err); ok {
		return e.Error()
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

func attemptSummary(attempts []BuildAttempt) string {
	if len(attempts) == 0 {
		return "no host was tried"
	}
	parts := make([]string, len(attempts))
	for i, a := range attempts {
		parts[i] = a.Host + ": " + a.Error
	}
	return strings.Join(parts, "; ")
}

// buildFailed is the error of a request whose instances did not all become
// active.
func buildFailed(r BuildResult) error {
	var failed []string
	for _, b := range r.Instances {
		if b.VMState != "active" {
			failed = append(failed, fmt.Sprintf("%s (%s) is %s: %s", b.Name, b.UUID, b.VMState, b.Fault))
		}
	}
	msg := fmt.Sprintf("%d of %d instances failed to build: %s", len(failed), len(r.Instances), strings.Join(failed, "; "))
	return temporal.NewNonRetryableApplicationError(msg, BuildFailedType, nil, r)
}

// Validate checks what the workflow itself relies on; the conductor checks
// the flavor and the image again when it creates the rows. It runs in
// workflow code (rpc.DecodeInput), so it is deterministic.
func (req BuildRequest) Validate() error {
	switch {
	case req.Count < 0 || req.Count > MaxBuildCount:
		return managers.InvalidArgument("count", "want 1 to %d, got %d", MaxBuildCount, req.Count)
	case req.Count > 0 && len(req.InstanceUUIDs) > 0 && req.Count != len(req.InstanceUUIDs):
		return managers.InvalidArgument("count", "is %d but %d instance_uuids are given", req.Count, len(req.InstanceUUIDs))
	case len(req.InstanceUUIDs) > MaxBuildCount:
		return managers.InvalidArgument("instance_uuids", "at most %d", MaxBuildCount)
	case req.MaxAttempts < 0:
		return managers.InvalidArgument("max_attempts", "must not be negative, got %d", req.MaxAttempts)
	case req.Flavor.VCPUs < 1:
		return managers.InvalidArgument("flavor.vcpus", "must be at least 1, got %d", req.Flavor.VCPUs)
	case req.Flavor.MemoryMB < 1:
		return managers.InvalidArgument("flavor.memory_mb", "must be at least 1, got %d", req.Flavor.MemoryMB)
	case req.Flavor.DiskGB < 0:
		return managers.InvalidArgument("flavor.disk_gb", "must not be negative, got %d", req.Flavor.DiskGB)
	case req.Flavor.VCPUs > math.MaxInt32:
		return managers.InvalidArgument("flavor.vcpus", "must be at most %d, got %d", math.MaxInt32, req.Flavor.VCPUs)
	case req.Flavor.MemoryMB > math.MaxInt32:
		return managers.InvalidArgument("flavor.memory_mb", "must be at most %d, got %d", math.MaxInt32, req.Flavor.MemoryMB)
	case req.Flavor.DiskGB > math.MaxInt32:
		return managers.InvalidArgument("flavor.disk_gb", "must be at most %d, got %d", math.MaxInt32, req.Flavor.DiskGB)
	case len(req.Image.Command) == 0:
		return managers.InvalidArgument("image.command", "must not be empty")
	}
	// The name gets a "-<n>" suffix for each instance: keep room for it.
	if err := managers.CheckText("name", req.Name, managers.MaxNameLen-5); err != nil {
		return err
	}
	if err := managers.CheckText("request_id", req.RequestID, managers.MaxRequestIDLen); err != nil {
		return err
	}
	return managers.CheckUUIDs("instance_uuids", req.InstanceUUIDs)
}

// decodeBuildRequest decodes the workflow's JSON input strictly, as an RPC
// method's request (rpc.DecodeInput), and fills in the defaults.
// (encoding/json is deterministic for these types: struct fields in order,
// which workflowcheck cannot see.)
//
//workflowcheck:ignore
func decodeBuildRequest(input converter.RawValue) (BuildRequest, error) {
	req, err := rpc.DecodeInput[BuildRequest](input)
	if err != nil {
		return BuildRequest{}, err
	}
	if req.Count == 0 {
		req.Count = max(len(req.InstanceUUIDs), 1)
	}
	if req.Name == "" {
		req.Name = "instance"
	}
	return req, nil
}

// Validate checks the request of conductor.build_instance.
func (req BuildInstanceRequest) Validate() error {
	if err := managers.CheckUUID("uuid", req.UUID); err != nil {
		return err
	}
	if req.RequestID == "" {
		return managers.InvalidArgument("request_id", "must not be empty")
	}
	if err := managers.CheckText("request_id", req.RequestID, managers.MaxRequestIDLen); err != nil {
		return err
	}
	if err := managers.CheckText("name", req.Name, managers.MaxNameLen); err != nil {
		return err
	}
	if len(req.Hosts) == 0 {
		return managers.InvalidArgument("hosts", "must not be empty")
	}
	for i, h := range req.Hosts {
		if !rpc.ValidHost(h) {
			return managers.InvalidArgument(fmt.Sprintf("hosts[%d]", i), "%s is not a host name", managers.Quote(h))
		}
	}
	return nil
}

// decodeBuildInstanceRequest decodes conductor.build_instance's input
// strictly and checks it (see decodeBuildRequest).
//
//workflowcheck:ignore
func decodeBuildInstanceRequest(input converter.RawValue) (BuildInstanceRequest, error) {
	return rpc.DecodeInput[BuildInstanceRequest](input)
}
