// Package workflows holds the framework's housekeeping workflows, which
// Schedules start: a topic's status report (ReportState) and its periodic
// tasks (Periodic), and the check those runs make of themselves at their
// start (CheckRunName, which authorization relies on). It also names what they run and what users see of them:
// the names, inputs and results of those workflows and of the activities
// they call (package activities implements the activities, package worker
// registers both), and the search attributes that every novaflow execution
// carries.
//
// The RPC workflows, which run manager methods, live with the rest of RPC in
// package rpc; a domain workflow, such as the reference conductor's build,
// lives with its manager.
//
// Workflow code here is deterministic: it touches no database and no driver;
// all I/O happens in activities. The package imports no manager, no driver
// and no database client.
package workflows
