// Package store is the data of the reference control plane: the instances,
// compute_nodes and instance_actions tables, and claims of instances on
// compute nodes.
//
// It holds no logic of its own beyond keeping the tables consistent ("smart
// managers, dumb data"): the compute manager moves instances through their
// states with conditional updates (Update), the scheduler and the conductor
// claim and release capacity on nodes (Claim, Release), and every operation
// leaves an audit row (StartAction, FinishAction).
//
// A claim counts an instance against the node of its host. Claims are made in
// one transaction that locks the node's row first and recomputes its usage
// from the instances claimed on it, so concurrent claims on one node never
// over-commit it and the usage columns can never drift from the instances.
package store
