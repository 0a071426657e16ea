package compute

import "time"

// PowerState is the power state of an instance as the driver sees it,
// with nova's names (nova.compute.power_state).
type PowerState string

// The power states, as in nova.
const (
	NoState   PowerState = "NOSTATE"   // unknown, or the driver cannot tell
	Running   PowerState = "RUNNING"   // running
	Paused    PowerState = "PAUSED"    // frozen in memory, not running
	Shutdown  PowerState = "SHUTDOWN"  // stopped: powered off or exited on its own
	Crashed   PowerState = "CRASHED"   // stopped by a failure the driver detected
	Suspended PowerState = "SUSPENDED" // saved to disk, not running
)

// Valid reports whether s is one of the defined power states.
func (s PowerState) Valid() bool {
	switch s {
	case NoState, Running, Paused, Shutdown, Crashed, Suspended:
		return true
	}
	return false
}

// Flavor is the size of an instance.
type Flavor struct {
	Name     string `json:"name"`
	VCPUs    int    `json:"vcpus"`     // at least 1
	MemoryMB int    `json:"memory_mb"` // at least 1
	DiskGB   int    `json:"disk_gb"`   // 0 or more (nova allows root_gb = 0)
}

// Instance is what a driver needs to create an instance.
type Instance struct {
	UUID   string `json:"uuid"` // the instance's identity on the host; see ValidateUUID
	Name   string `json:"name"` // display name, may be empty
	Flavor Flavor `json:"flavor"`
	// Command is the image's command: an argv executed directly, without a
	// shell. Command[0] is the program.
	Command []string `json:"command"`
	// Env is the instance's whole environment, as "KEY=value" entries. The
	// environment of the compute service is not passed on.
	Env []string `json:"env,omitempty"`
}

// InstanceInfo is what a driver reports about an instance.
type InstanceInfo struct {
	UUID       string
	Name       string
	Flavor     Flavor
	PowerState PowerState
	// PID is the process id of the instance's current run, 0 when it is not
	// running or when the driver has no processes (the fake's are synthetic).
	PID int
	// StartedAt is when the current or last run started; zero if never.
	StartedAt time.Time
	// ExitCode is the exit status of the last run once it has ended, when
	// the driver knows it: the process's exit code, or 128+N when it was
	// killed by signal N. It is nil while running or when unknown (e.g. a
	// process adopted after a restart that then exited).
	ExitCode *int
}

// Resources is the total capacity of a host, in the units of a Flavor.
type Resources struct {
	VCPUs    int
	MemoryMB int
	DiskGB   int
}

// Config is what a driver gets when it is opened. It is filled by the
// compute service from its settings; drivers know nothing else about it.
type Config struct {
	// Host is the name of the host the driver runs instances on.
	Host string
	// StateDir is a directory the driver owns for its state; required by
	// drivers that keep state on disk (process), ignored by others (fake).
	StateDir string
	// Options are driver-specific settings, e.g. the fake's "vcpus". Each
	// driver documents its own and rejects keys it does not know.
	Options map[string]string
	// AllowRelativeCommands lets a driver that executes an instance's
	// Command (process) look a Command[0] without a slash up in the
	// instance's PATH. When false, such a driver refuses (ErrInvalid) any
	// Command[0] that is not an absolute path, so that what runs does not
	// depend on a search path.
	AllowRelativeCommands bool
}
