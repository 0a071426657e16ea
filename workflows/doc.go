// Package workflows holds novaflow's workflow code: the RPC call/cast/fanout
// workflows that run manager methods as activities on a topic's task queues,
// the periodic-task and status-report workflows run by Schedules, and domain
// workflows such as conductor's build with reschedule.
//
// Workflow code here is deterministic: it touches no database and no driver;
// all I/O happens in activities.
package workflows
