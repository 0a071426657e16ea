// Package process is a compute driver, registered as "process", whose
// instances are real OS processes on the host. It is Linux-only: on other
// systems the name is registered but opening it fails.
//
// An instance's Command is executed directly (no shell) in its own process
// group, with the instance's directory <StateDir>/instances/<uuid>/ as its
// working directory. That directory holds:
//
//	stdout.log, stderr.log  the output of every run, appended
//	state.json              uuid, name, flavor, command, env, desired power
//	                        state, and the pid and start time of the current
//	                        run, written atomically (temporary file + rename)
//
// The environment of an instance is exactly its Env, plus
// PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin when Env
// sets no PATH: the compute service's own environment, which may hold
// secrets, is not passed on. Command[0] must be an absolute path: Spawn
// refuses any other with compute.ErrInvalid, unless the driver was opened
// with compute.Config.AllowRelativeCommands (the compute service's
// NOVAFLOW_COMPUTE_ALLOW_RELATIVE_COMMANDS), which lets a name without a
// slash be looked up in that PATH (its absolute directories only); a
// relative path with a slash is always refused. An executable that is not
// found fails Spawn with an error matching exec.ErrNotFound, not
// compute.ErrInvalid: another host may have it.
//
// Power off sends SIGTERM to the process group, then SIGKILL once the
// timeout has passed, and returns when no process of the group is left.
// A soft reboot is a power off with the soft_reboot_timeout, then a start;
// a hard reboot is SIGKILL, then a start. Destroy is SIGKILL to the group,
// then the removal of the instance's directory.
//
// Power states: RUNNING while the group leader (the process started from
// Command) lives; SHUTDOWN once it has exited, whether it was powered off or
// exited on its own with any code or signal, as nova reports an instance
// that stopped unexpectedly (InstanceInfo.ExitCode tells which, when the
// driver saw the exit); NOSTATE when the instance's state.json cannot be
// read (Destroy still removes such an instance).
//
// Instances outlive the driver: Close leaves them running, and Open on the
// same StateDir adopts every instance it finds. A recorded process is
// adopted when its pid is alive and its start time (field 22 of
// /proc/<pid>/stat) matches the one recorded, which guards against pid
// reuse; otherwise the instance is SHUTDOWN. Processes started by the
// driver are reaped by a goroutine each, so none is left a zombie (these
// goroutines outlive Close until their process exits); adopted processes,
// which are not children, are checked with kill(pid, 0) and their start
// time each time their state is asked for. Only one driver at a time may
// use a StateDir: Open takes an exclusive lock on <StateDir>/lock.
// Service managers must leave the instances alive when the compute service
// stops (for systemd: KillMode=process; mixed would SIGKILL them once the
// service's main process exits).
//
// Options (compute.Config.Options):
//
//	soft_reboot_timeout  how long a soft reboot waits after SIGTERM before
//	                     SIGKILL, a Go duration (default 120s, nova's
//	                     libvirt wait_soft_reboot_seconds)
//
// Resources are the host's: runtime.NumCPU, MemTotal of /proc/meminfo, and
// the size of the file system holding StateDir.
package process
