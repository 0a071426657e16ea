package volume

import (
	"os"
	"path/filepath"
	"time"

	"github.com/novaflow/novaflow/managers"
)

// Settings are the volume manager's settings, read by the runtime from
// NOVAFLOW_VOLUME_* variables and handed to New in managers.Deps.Config
// (managers.Defaults gives them with every default applied).
type Settings struct {
	Driver        string            `envconfig:"VOLUME_DRIVER" default:"file" desc:"volume driver by registered name: file (sparse files on this host) or fake (in memory)"`
	DataDir       string            `envconfig:"VOLUME_DATA_DIR" desc:"directory of the volume driver's data (file: one sparse file per volume); default: the service's state directory, $STATE_DIRECTORY (systemd's StateDirectory=) or /var/lib/novaflow/volume (novaflow dev: its data dir)"`
	DriverOptions map[string]string `envconfig:"VOLUME_DRIVER_OPTIONS" desc:"driver options as key:value pairs separated by commas (file: mount_root:/srv/novaflow; fake: capacity_gb:1024)"`
	UsageInterval time.Duration     `envconfig:"VOLUME_USAGE_INTERVAL" default:"60s" desc:"interval of report_usage, which records the host's volume usage in volume_usage; negative disables it"`
}

// dataDir is the driver's data directory: the setting, else the service's
// state directory (managers.Deps.StateDir), else, for a manager built
// without the runtime, novaflow-volume-<host> in the temp dir.
func (s Settings) dataDir(deps managers.Deps) string {
	switch {
	case s.DataDir != "":
		return s.DataDir
	case deps.StateDir != "":
		return deps.StateDir
	}
	return filepath.Join(os.TempDir(), "novaflow-volume-"+deps.Host)
}
