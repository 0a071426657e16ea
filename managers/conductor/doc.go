// Package conductor is the conductor manager of the reference control plane
// (topic conductor), as nova's ComputeTaskManager: it runs the builds of new
// instances.
//
// The build itself is the workflow conductor.build_instances
// (BuildInstances, with a child conductor.build_instance per instance),
// which conductor services run (Manager.Workflows). Workflow code does no
// I/O, so every step of a build is an RPC method that the workflow calls
// with rpc.CallFromWorkflow: scheduler.select_destinations,
// compute.build_and_run_instance on the chosen host, and this manager's
// own, on the conductor queue:
//
//	create_instances  the instance rows (building, scheduling) and their
//	                  "create" actions
//	claim_instance    claim an instance on an alternate host before a
//	                  reschedule (the scheduler claims the first choice)
//	release_claim     give a failed host's claim back
//	finish_build      end the "create" action; on failure, mark the
//	                  instance ERROR with the reason, unless it is being
//	                  deleted
//
// They are idempotent, since an activity may run more than once.
package conductor
