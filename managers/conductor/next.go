//go:build novaflow_next

package conductor

import (
	"go.temporal.io/sdk/workflow"

	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/rpc"
)

// This file is the next release of the conductor, compiled in only with the
// build tag novaflow_next (see managers/compute/next.go): its build writes
// build_and_run_instance for compute 1.1, with requested_by, as nova's
// conductor writes its newest objects and lets obj_make_compatible
// backport them. The call from the workflow (rpc.CallFromWorkflow) is
// capped by compute's upgrade level (NOVAFLOW_UPGRADE_LEVELS_COMPUTE, auto
// or pinned) in the conductor that runs the workflow task, read through
// the local activity that every versioned call already records: at 1.0,
// BuildRunRequest.MakeCompatible drops requested_by and the 1.0 form is
// sent; at 1.1 it is sent as is.
//
// It asks no question of its own (rpc.CanSendVersionFromWorkflow would
// record a local activity of its own): the workflows keep the steps of the
// current release, so that each release replays the other's histories,
// the current one after a rollback included.

var _ = func() bool { next = nextRelease{}; return true }()

// RequestedBy is what the next release's builds put in requested_by: the
// conductor asked for the build.
const RequestedBy = Topic

type nextRelease struct{}

func (nextRelease) buildRequest(_ workflow.Context, req computemgr.InstanceRequest) (any, []rpc.CallOption) {
	return computemgr.BuildRunRequest{InstanceRequest: req, RequestedBy: RequestedBy}, []rpc.CallOption{rpc.Version("1.1")}
}
