package scheduler

import (
	"time"

	"github.com/novaflow/novaflow/servicegroup"
)

// Settings are the scheduler manager's settings, read by the runtime from
// NOVAFLOW_* variables and handed to New in managers.Deps.Config.
//
// ReportInterval and ServiceDownTime are the runtime's own settings, read
// again here because the scheduler judges compute services with nova's is_up
// rule and must use the same effective service_down_time as the runtime.
type Settings struct {
	Strategy        string        `envconfig:"SCHEDULER_STRATEGY" default:"spread" desc:"scheduler strategy by name: spread (most free memory first) or pack (least free memory first)"`
	MaxAttempts     int           `envconfig:"SCHEDULER_MAX_ATTEMPTS" default:"3" desc:"attempts to build an instance: the selected host plus up to max_attempts-1 alternates (nova's scheduler.max_attempts)"`
	ReportInterval  time.Duration `envconfig:"REPORT_INTERVAL" default:"10s" desc:"interval of the status report of the service's topic, which sees its services alive by their worker heartbeats; 0 leaves the topic's report schedule to the other services (mutable)"`
	ServiceDownTime time.Duration `envconfig:"SERVICE_DOWN_TIME" default:"25s" desc:"a service not seen alive for this long is down; raised to 2.5 x report_interval when lower (mutable)"`
}

// DefaultSettings are the settings with every default applied.
func DefaultSettings() Settings {
	return Settings{
		Strategy:        "spread",
		MaxAttempts:     3,
		ReportInterval:  10 * time.Second,
		ServiceDownTime: servicegroup.DefaultServiceDownTime,
	}
}

// DownTime is the effective service_down_time the scheduler judges compute
// services with (servicegroup.DownTime).
func (s Settings) DownTime() time.Duration {
	return servicegroup.DownTime(s.ServiceDownTime, s.ReportInterval)
}
