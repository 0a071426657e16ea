package rpc

import (
	"errors"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
)

// ForManager returns a Client for a manager to call other services, with the
// settings of the process that hosts it: the Temporal client, the response
// and cast timeouts and the upgrade levels the runtime put in deps
// (managers.Deps.Temporal and Deps.RPC), and the services table of deps.DB
// for "auto" levels. Call it from the manager's constructor and keep the
// Client; it is safe for concurrent use.
//
// It fails when deps has no Temporal client (a manager built without the
// runtime, as in a unit test), or when an upgrade level is "auto" and deps
// has no database.
//
// The Client knows no local services: every call goes through Temporal,
// recorded and visible in the Web UI, even to a service of the same process.
// The runtime does not register the process's other services with AddLocal
// because a manager's calls to another topic rarely name a host (they are
// routed by object, which AddLocal does not cover), and because services of
// one process start and stop on their own: a direct call could reach a
// manager after its CleanupHost. A manager that wants direct calls to a
// service it knows runs beside it may still call AddLocal itself.
func ForManager(deps managers.Deps) (*Client, error) {
	if deps.Temporal == nil {
		return nil, errors.New("rpc: managers.Deps.Temporal is nil: the manager was built without the runtime's Temporal client")
	}
	opts := Options{
		Temporal:        deps.Temporal,
		ResponseTimeout: deps.RPC.ResponseTimeout,
		CastTimeout:     deps.RPC.CastTimeout,
		Timeouts:        deps.RPC.Timeouts,
		UpgradeLevels:   deps.RPC.UpgradeLevels,
	}
	opts.CurrentUpgradeLevels = deps.RPC.CurrentUpgradeLevels
	if deps.DB != nil {
		opts.Services = servicegroup.NewStore(deps.DB)
	}
	return New(opts)
}
