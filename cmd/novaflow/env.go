package main

import (
	"os"
	"path/filepath"

	"github.com/novaflow/novaflow/worker"
)

// processEnv is the environment the command's settings are read from: the
// variables of os.Environ, then extra (KEY=value, e.g. a dev stack's
// addresses), then NOVAFLOW_CONFIG_FILE's lines over them (worker.LoadEnv).
// Only package main reads the process's environment; what it reads is
// passed down.
type processEnv struct {
	extra []string
	// devDir is the data folder of the dev stack the command runs beside
	// (useDevStack), "" for none.
	devDir string
	// ownTemporal: the services of `novaflow dev` on its own Temporal
	// server, whose address extra gives; Temporal's own configuration
	// (TEMPORAL_*, a profile) and the client flags are not read.
	ownTemporal bool
}

// stateDir is the state directory of a service of topic on host: systemd's
// $STATE_DIRECTORY when set; beside a dev stack, a folder in its data
// folder (as `novaflow dev` gives its own services); else
// /var/lib/novaflow/<topic>.
func (p processEnv) stateDir(env worker.Env, topic, host string) string {
	if _, set := env.Lookup("STATE_DIRECTORY"); !set && p.devDir != "" {
		return filepath.Join(p.devDir, topic+"-"+host)
	}
	return worker.DefaultStateDir(topic, env.Get("STATE_DIRECTORY"))
}

// load reads the environment as it is now: at start, and again on SIGHUP
// (worker.Options.Reload), when the config file may have changed. The
// global client flags (--address, --namespace, --profile, --config-file)
// are set over it.
func (p processEnv) load() (worker.Env, error) {
	env, err := worker.LoadEnv(append(os.Environ(), p.extra...))
	if err != nil {
		return nil, err
	}
	if p.ownTemporal {
		return withoutTemporalConfig(env), nil
	}
	return globalClient.apply(env), nil
}

// settings loads the environment and the runtime's settings from it.
func (p processEnv) settings() (worker.Env, worker.Config, error) {
	env, err := p.load()
	if err != nil {
		return nil, worker.Config{}, err
	}
	cfg, err := worker.LoadConfig(env)
	if err != nil {
		return nil, worker.Config{}, err
	}
	return env, cfg, nil
}
