package compute

import (
	"os"
	"path/filepath"
	"time"

	"github.com/novaflow/novaflow/managers"
)

// Settings are the compute manager's settings, read by the runtime from
// NOVAFLOW_* variables and handed to New in managers.Deps.Config
// (managers.Defaults gives them with every default applied).
type Settings struct {
	Driver                  string            `envconfig:"COMPUTE_DRIVER" desc:"compute driver by registered name: process (instances are OS processes) or fake (simulated, in memory); required: a compute service without it refuses to start, as nova's without compute_driver (novaflow dev sets process, or fake off Linux)"`
	StateDir                string            `envconfig:"COMPUTE_STATE_DIR" desc:"directory of the compute driver's state (process: one directory per instance with its logs); default: the service's state directory, $STATE_DIRECTORY (systemd's StateDirectory=) or /var/lib/novaflow/compute (novaflow dev: its data dir)"`
	DriverOptions           map[string]string `envconfig:"COMPUTE_DRIVER_OPTIONS" desc:"driver options as key:value pairs separated by commas (fake: vcpus:8,memory_mb:16384,disk_gb:100; process: soft_reboot_timeout:30s)"`
	ShutdownTimeout         time.Duration     `envconfig:"COMPUTE_SHUTDOWN_TIMEOUT" default:"60s" desc:"how long stop_instance waits for a clean shutdown before it forces the instance off (nova's shutdown_timeout)"`
	UpdateResourcesInterval time.Duration     `envconfig:"COMPUTE_UPDATE_RESOURCES_INTERVAL" default:"60s" desc:"interval of update_available_resource, which writes the host's compute_nodes row only when it changed; 0 means the default periodic spacing (60s); negative disables it (nova's update_resources_interval, whose default 0 is 60s)"`
	SyncPowerStateInterval  time.Duration     `envconfig:"COMPUTE_SYNC_POWER_STATE_INTERVAL" default:"600s" desc:"interval of sync_power_states; negative disables it (nova's sync_power_state_interval, same default)"`
	ReapDeletedInterval     time.Duration     `envconfig:"COMPUTE_REAP_DELETED_INTERVAL" default:"1800s" desc:"interval of reap_deleted_instances, which destroys what the driver still runs of deleted instances; negative disables it (nova's running_deleted_instance_poll_interval, same default)"`
	AllowRelativeCommands   bool              `envconfig:"COMPUTE_ALLOW_RELATIVE_COMMANDS" default:"false" desc:"let the process driver look an image's command[0] without a slash up in the instance's PATH; false: command[0] must be an absolute path (novaflow dev sets it to true when unset)"`
}

// stateDir is the driver's state directory: the setting, else the
// service's state directory (managers.Deps.StateDir), else, for a manager
// built without the runtime, novaflow-compute-<host> in the temp dir.
func (s Settings) stateDir(deps managers.Deps) string {
	switch {
	case s.StateDir != "":
		return s.StateDir
	case deps.StateDir != "":
		return deps.StateDir
	}
	return filepath.Join(os.TempDir(), "novaflow-compute-"+deps.Host)
}
