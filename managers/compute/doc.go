// Package compute is the compute manager of the reference control plane:
// one service per host (topic compute) that runs instances on its host
// through a compute driver (drivers/compute), as nova's ComputeManager.
//
// RPC methods (activities compute.<method>, all version 1.0, each naming its
// instance in the request field instance_uuid):
//
//	build_and_run_instance  claim the instance on this host and spawn it
//	stop_instance           power it off (cleanly, then forcibly)
//	start_instance          power it on
//	reboot_instance         soft or hard reboot
//	terminate_instance      destroy it and soft-delete its row
//	get_instance_info       the row and what the driver reports
//	attach_volume           attach a volume (instance_uuid, volume_id) by
//	                        calling the volume service through package rpc
//	detach_volume           detach it, the same way
//
// Each operation records an instance_actions row, moves vm_state, task_state
// and power_state as nova does, and may be repeated: an activity can run twice
// after a crash, so build checks the driver before it spawns and every state
// change is a conditional update. Errors are typed (managers.NotFound for an
// unknown instance, InvalidArgument naming the field, Conflict for a wrong
// state); a build that failed on this host returns type Rescheduled so that
// the conductor tries another host.
//
// Periodic tasks, at nova's default intervals: update_available_resource
// (every 60s: the host's capacity from the driver and the usage of its
// instances into compute_nodes, written only when they changed, so an idle
// host costs one read; also run before the service takes work),
// sync_power_states (every 600s: the database follows the driver, with
// nova's rules), reap_deleted_instances (every 1800s: destroy what the driver
// still runs of deleted instances). InitHost reconciles the database with
// what the driver reports after a restart.
//
// Settings (Settings, from NOVAFLOW_COMPUTE_* variables) choose the driver by
// name: NOVAFLOW_COMPUTE_DRIVER=process or fake (required).
package compute
