package dns

import "time"

// Settings are the dns manager's settings, from NOVAFLOW_DNS_* variables.
type Settings struct {
	Driver        string            `envconfig:"DNS_DRIVER" default:"fake" desc:"DNS driver by registered name: fake (in memory)"`
	DriverOptions map[string]string `envconfig:"DNS_DRIVER_OPTIONS" desc:"driver options as key:value pairs separated by commas"`
	SyncInterval  time.Duration     `envconfig:"DNS_SYNC_INTERVAL" default:"60s" desc:"interval of sync_records, which makes this host's DNS backend serve the records table; negative disables it"`
}
