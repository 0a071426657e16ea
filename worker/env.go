package worker

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/novaflow/novaflow/internal/envconf"
)

// Env is the environment settings are read from: variable names and their
// values. The runtime never reads the process's environment itself: cmd
// builds an Env with LoadEnv (the process's variables and
// NOVAFLOW_CONFIG_FILE's lines) and passes it down (LoadConfig,
// Options.Env), and again on SIGHUP (Options.Reload). A test writes one by
// hand; a nil Env has no variable set.
type Env map[string]string

// LoadEnv returns the environment of environ, variables in os.Environ's
// KEY=value form (a later one wins over an earlier one of the same name),
// with the lines of the file NOVAFLOW_CONFIG_FILE names, when it names one,
// over them. Nothing is written to the process's environment, so a line
// removed from the file is gone at the next LoadEnv. A bad file is a
// *ConfigError naming NOVAFLOW_CONFIG_FILE.
func LoadEnv(environ []string) (Env, error) {
	env := make(Env, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	path := env[EnvPrefix+"_CONFIG_FILE"]
	if path == "" {
		return env, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &ConfigError{Setting: EnvPrefix + "_CONFIG_FILE", Err: err}
	}
	defer f.Close()
	vars, err := parseConfigFile(f, path)
	if err != nil {
		return nil, err
	}
	for _, kv := range vars {
		env[kv[0]] = kv[1]
	}
	return env, nil
}

// Lookup returns the value of the variable key and whether it is set.
func (e Env) Lookup(key string) (string, bool) {
	v, ok := e[key]
	return v, ok
}

// Get returns the value of the variable key; "" when it is unset.
func (e Env) Get(key string) string { return e[key] }

// With returns a copy of e with the variables of kv (KEY=value) set.
func (e Env) With(kv ...string) Env {
	out := make(Env, len(e)+len(kv))
	for k, v := range e {
		out[k] = v
	}
	for _, s := range kv {
		if k, v, ok := strings.Cut(s, "="); ok && k != "" {
			out[k] = v
		}
	}
	return out
}

// Decode fills spec (a pointer to a settings struct with envconfig tags:
// Config, or a manager's Definition.Config) from the NOVAFLOW_* variables
// of e, and from its default tags where they are unset, as envconfig does
// from the process's environment. A value that does not parse is a
// *ConfigError naming its variable.
//
// Only NOVAFLOW_* variables are read: envconfig would also take a field's
// unprefixed name (HOST, LOG_LEVEL, BUILD_ID, COMPUTE_DRIVER...) when the
// prefixed one is unset, so that a variable set for another program in the
// same environment would change a service. The unprefixed names novaflow
// reads, on purpose, are DATABASE_URL and Temporal's own client settings,
// TEMPORAL_* (LoadConfig).
func (e Env) Decode(spec any) error {
	prefixed := func(key string) (string, bool) {
		if !strings.HasPrefix(key, EnvPrefix+"_") {
			return "", false
		}
		return e.Lookup(key)
	}
	err := envconf.Process(EnvPrefix, spec, prefixed)
	var pe *envconf.ParseError
	if errors.As(err, &pe) {
		return &ConfigError{Setting: pe.Key, Err: fmt.Errorf("cannot parse %q as %s", pe.Value, pe.Type)}
	}
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	return nil
}
