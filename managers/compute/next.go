//go:build novaflow_next

package compute

import (
	"context"
	"fmt"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
)

// This file is the next release of the compute manager, compiled in only
// with the build tag novaflow_next: the newer variant of the reference
// control plane that faults' mixed-version test (TestMixedVersionCloud)
// rolls a running cloud to and back from. It is what a release that raises
// the compute API's minor version looks like (docs/rpc.md, Versions):
//
//   - service version 2, which serves RPC API 1.1;
//   - build_and_run_instance 1.1: a new optional field, requested_by, which
//     the host records in the message of the instance's "build" action;
//   - a new method, describe_host 1.1 (WithSince: a caller capped at 1.0
//     refuses to call it);
//   - requested_by is tagged since:"1.1", and BuildRunRequest.MakeCompatible
//     drops it when the call is sent at 1.0 (docs/rpc.md, "Adding a field
//     or a method").
//
// A host of this release still serves 1.0 requests (it keeps the minor
// versions below its own); a host of the previous release refuses 1.1.

// nextVersion is the service version of this release.
const nextVersion = Version + 1

var _ = func() bool { next = nextRelease{}; return true }()

type nextRelease struct{}

func (nextRelease) define(d *managers.Definition) {
	d.Version = nextVersion
	d.RPCVersions = map[int]string{1: "1.0", nextVersion: "1.1"}
}

func (nextRelease) methods(m *Manager, methods []managers.Method) []managers.Method {
	for i, meth := range methods {
		if meth.Name == "build_and_run_instance" {
			methods[i] = managers.NewMethod("build_and_run_instance", "1.1", m.buildAndRunNext).WithObject("instance_uuid")
		}
	}
	return append(methods, managers.NewMethod("describe_host", "1.1", m.describeHost).WithSince("1.1").WithAccess(managers.AccessAdmin))
}

// BuildRunRequest is the request of build_and_run_instance 1.1.
type BuildRunRequest struct {
	InstanceRequest
	// RequestedBy, new in 1.1, names who asked for the build (the next
	// release's conductor says "conductor"); recorded in the message of the
	// "build" action.
	RequestedBy string `json:"requested_by,omitempty" since:"1.1"`
}

// MakeCompatible drops requested_by for a call sent at 1.0 (the caller's
// upgrade level fell below 1.1 after it chose to send it): it is only
// recorded, so a 1.0 host builds the instance all the same, as nova's
// obj_make_compatible drops what an older peer cannot take.
func (r *BuildRunRequest) MakeCompatible(version string) error {
	if c, err := managers.CompareVersions(version, "1.1"); err == nil && c < 0 {
		r.RequestedBy = ""
	}
	return nil
}

// Validate checks the 1.0 fields and requested_by.
func (r BuildRunRequest) Validate() error {
	if err := r.InstanceRequest.Validate(); err != nil {
		return err
	}
	return managers.CheckText("requested_by", r.RequestedBy, managers.MaxNameLen)
}

// RequestedByPrefix starts the message of a "build" action whose request
// named its requester.
const RequestedByPrefix = "requested by "

func (m *Manager) buildAndRunNext(ctx context.Context, req BuildRunRequest) (store.Instance, error) {
	inst, err := m.BuildAndRunInstance(ctx, req.InstanceRequest)
	if err != nil || req.RequestedBy == "" {
		return inst, err
	}
	rid := requestID(ctx, req.RequestID)
	acts, err := m.store.Actions(ctx, req.InstanceUUID)
	if err != nil {
		return store.Instance{}, fmt.Errorf("build instance %s: %w", req.InstanceUUID, err)
	}
	for _, a := range acts {
		if a.Action == "build" && a.Host == m.host && a.RequestID == rid && a.Result == store.ResultSuccess {
			if err := m.store.FinishActionResult(ctx, a.ID, store.ResultSuccess, RequestedByPrefix+req.RequestedBy); err != nil {
				return store.Instance{}, err
			}
		}
	}
	return inst, nil
}

// HostDescription is the result of describe_host.
type HostDescription struct {
	Host           string `json:"host"`
	ServiceVersion int    `json:"service_version"`
}

// describeHost is describe_host 1.1: the host and the service version of
// the code that serves it.
func (m *Manager) describeHost(ctx context.Context, _ struct{}) (HostDescription, error) {
	return HostDescription{Host: m.host, ServiceVersion: nextVersion}, nil
}
