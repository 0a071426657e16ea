//go:build novaflow_next

package conductor

import (
	"context"
	"encoding/json"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/rpc"
)

// This file is the next release of the conductor, compiled in only with the
// build tag novaflow_next (see managers/compute/next.go): its build sends
// build_and_run_instance at compute 1.1, with requested_by, when compute's
// upgrade level (NOVAFLOW_UPGRADE_LEVELS_COMPUTE, auto or pinned) allows
// 1.1, and the 1.0 form otherwise, as nova's can_send_version.

var _ = func() bool { next = nextRelease{}; return true }()

// RequestedByMemo is the memo of a build's child that may send compute
// 1.1: the requester to name in requested_by.
const RequestedByMemo = "NovaflowRequestedBy"

type nextRelease struct{}

func (nextRelease) newManager(m *Manager, deps managers.Deps) error {
	if deps.Temporal == nil {
		return nil
	}
	c, err := rpc.ForManager(deps)
	if err != nil {
		return err
	}
	m.rpc, m.host = c, deps.Host
	return nil
}

func (nextRelease) methods(m *Manager, methods []managers.Method) []managers.Method {
	for i, meth := range methods {
		if meth.Name == "create_instances" {
			methods[i] = managers.NewMethod("create_instances", "1.0", m.createInstancesNext)
		}
	}
	return methods
}

// nextCreateResponse is create_instances' response in this release: the
// build's children may send compute 1.1 when RequestedBy is set.
type nextCreateResponse struct {
	CreateResponse
	RequestedBy string `json:"requested_by,omitempty"`
}

func (m *Manager) createInstancesNext(ctx context.Context, req CreateRequest) (nextCreateResponse, error) {
	resp, err := m.CreateInstances(ctx, req)
	if err != nil {
		return nextCreateResponse{}, err
	}
	out := nextCreateResponse{CreateResponse: resp}
	if m.rpc != nil {
		ok, err := m.rpc.CanSendVersion(ctx, computemgr.Topic, "1.1")
		if err != nil {
			return nextCreateResponse{}, err
		}
		if ok {
			out.RequestedBy = "conductor@" + m.host
		}
	}
	return out, nil
}

// childMemo decodes created with encoding/json, which is deterministic for
// this type.
//
//workflowcheck:ignore
func (nextRelease) childMemo(created json.RawMessage) map[string]any {
	var resp nextCreateResponse
	if len(created) == 0 || json.Unmarshal(created, &resp) != nil || resp.RequestedBy == "" {
		return nil
	}
	return map[string]any{RequestedByMemo: resp.RequestedBy}
}

func (nextRelease) buildRequest(ctx workflow.Context, req computemgr.InstanceRequest) (any, []rpc.CallOption) {
	var by string
	if memo := workflow.GetInfo(ctx).Memo; memo != nil {
		if p, ok := memo.GetFields()[RequestedByMemo]; ok {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &by)
		}
	}
	if by == "" {
		return req, nil
	}
	return computemgr.BuildRunRequest{InstanceRequest: req, RequestedBy: by}, []rpc.CallOption{rpc.Version("1.1")}
}
