// Package volume is the volume service: one manager per host (topic volume)
// that keeps volumes on its host through a volume driver (drivers/volume), as
// the VolumeManager of nova's "Services, Managers and Drivers" page. It is
// written only against novaflow's public packages (managers, drivers/volume;
// its tests add worker and testenv), as a service of your own would be; the
// tutorial docs/writing-a-service.md walks through its code.
//
// RPC methods (activities volume.<method>, all version 1.0):
//
//	create_volume  create a volume of size_gb GiB on the host that runs the
//	               call (a request's "host" picks it; else any volume host)
//	delete_volume  delete it; refused with a Conflict while it is attached
//	attach_volume  attach it to an instance and make it visible at the
//	               mountpoint the caller (compute) gives
//	detach_volume  detach it
//	list_volumes   the volumes, by instance or status
//
// delete_volume, attach_volume and detach_volume name their volume in field
// volume_id and are routed to the volume's host (the manager is a
// managers.Router), so callers need not know where a volume lives. The rest
// of the system changes volumes only through these methods: compute's
// attach_volume and detach_volume call them through package rpc.
//
// Each method may run twice for one request (an activity is retried after a
// crash): a repeated create, attach, detach or delete finds its own work done
// and succeeds, and every status change is a conditional update of the
// volumes table. Errors are typed: NotFound, InvalidArgument naming the
// field, Conflict for a volume in the wrong status or on another host.
//
// The periodic task report_usage writes what the driver holds on the host
// (volumes, provisioned and allocated bytes, capacity) into volume_usage.
//
// The tables (volumes, volume_usage) are the manager's own migrations
// (Definition.Migrations), applied by the runtime at start.
//
// Settings (Settings, from NOVAFLOW_VOLUME_* variables) choose the driver by
// name: NOVAFLOW_VOLUME_DRIVER=file (default) or fake.
package volume
