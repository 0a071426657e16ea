// Package managers is the Manager contract and the registry of managers by name.
//
// A Manager is responsible for one area of the system (compute, volumes...); the
// rest of the system changes that area only through it. The runtime (package
// worker) hosts one manager per Service: it hands the manager its host, database
// and settings (Deps), calls its lifecycle hooks in nova's order, registers its
// RPC methods as Temporal activities named <topic>.<method>, and runs its
// periodic tasks from Temporal Schedules. A manager knows nothing of the runtime
// that hosts it, so it can be tested alone with a fake driver.
//
// A manager calls other services through package rpc, with a client it builds
// from its Deps (the process's Temporal client and RPC settings):
//
//	c, err := rpc.ForManager(deps)
//	...
//	err = c.Call(ctx, "volume", "attach_volume", req, &vol)
//
// docs/writing-a-service.md builds a manager, its drivers and their tests step
// by step.
//
// Managers register themselves by name, database/sql style, usually from an
// init function of their package:
//
//	func init() {
//		managers.Register(managers.Definition{Name: "volume", Topic: "volume", Version: 1, New: New})
//	}
package managers
