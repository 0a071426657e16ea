package rpc_test

import (
	"context"
	"fmt"
	"time"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
)

// Auditor is a manager that calls another service: it asks compute about an
// instance and casts a stop to it.
type Auditor struct {
	rpc *rpc.Client
}

// NewAuditor builds its RPC client from what the runtime hands it: the
// process's Temporal client, timeouts and upgrade levels.
func NewAuditor(deps managers.Deps) (*Auditor, error) {
	c, err := rpc.ForManager(deps)
	if err != nil {
		return nil, fmt.Errorf("auditor: %w", err)
	}
	return &Auditor{rpc: c}, nil
}

// AuditRequest is the request of the auditor's audit method.
type AuditRequest struct {
	InstanceUUID string `json:"instance_uuid" required:"true"`
}

// Audit calls compute.get_instance_info (routed to the instance's host) and
// casts compute.stop_instance when the instance runs too long.
func (a *Auditor) Audit(ctx context.Context, req AuditRequest) (string, error) {
	var info struct {
		Host       string    `json:"host"`
		LaunchedAt time.Time `json:"launched_at"`
	}
	err := a.rpc.Call(ctx, "compute", "get_instance_info", req, &info, rpc.Version("1.0"))
	if err != nil {
		return "", err // typed errors (NotFound...) come back as *managers.Error
	}
	if time.Since(info.LaunchedAt) < 24*time.Hour {
		return "ok", nil
	}
	// A cast is durable: it runs when the host is up, or fails visibly.
	_, err = a.rpc.Cast(ctx, "compute", "stop_instance", req,
		rpc.ToHost(info.Host), rpc.RequestID("audit-stop-"+req.InstanceUUID))
	return "stopping", err
}

// RPCMethods declares audit.
func (a *Auditor) RPCMethods() []managers.Method {
	return []managers.Method{managers.NewMethod("audit", "1.0", a.Audit)}
}

// PeriodicTasks declares none.
func (a *Auditor) PeriodicTasks() []managers.PeriodicTask { return nil }

// A manager builds its RPC client with ForManager in its constructor. Built
// without the runtime, as in a unit test, it has no Temporal client to call
// with, and ForManager says so.
func ExampleForManager() {
	_, err := NewAuditor(managers.Deps{Host: "node1"})
	fmt.Println(err)
	// Output:
	// auditor: rpc: managers.Deps.Temporal is nil: the manager was built without the runtime's Temporal client
}
