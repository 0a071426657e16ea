package scheduler

// Settings are the scheduler manager's settings, read by the runtime from
// NOVAFLOW_* variables and handed to New in managers.Deps.Config
// (managers.Defaults gives them with every default applied).
//
// The scheduler judges compute services with nova's is_up rule and the
// runtime's effective service_down_time, which it reads from
// managers.Deps.DownTime at each judgement (so a SIGHUP changes it too),
// not from settings of its own.
type Settings struct {
	Strategy    string `envconfig:"SCHEDULER_STRATEGY" default:"spread" desc:"scheduler strategy by name: spread (most free memory first) or pack (least free memory first)"`
	MaxAttempts int    `envconfig:"SCHEDULER_MAX_ATTEMPTS" default:"3" desc:"attempts to build an instance: the selected host plus up to max_attempts-1 alternates (nova's scheduler.max_attempts)"`
}
