package main

import (
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/novaflow/novaflow/worker"
)

// clientFlags are the global flags that choose the Temporal server of every
// command that talks to Temporal (run, dev with a Temporal of the user's,
// service, instance, migrate's checks, temporal setup...). They are bound
// as persistent flags of the root command and applied where the settings
// are loaded (processEnv.load), so that a new subcommand honours them
// without doing anything.
//
// The precedence, highest first: these flags; NOVAFLOW_TEMPORAL_* (from the
// environment or NOVAFLOW_CONFIG_FILE); TEMPORAL_* variables; the profile
// of Temporal's configuration file; the defaults. --address and
// --namespace are NOVAFLOW_TEMPORAL_ADDRESS and _NAMESPACE; --profile and
// --config-file are TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE, as the
// `temporal` CLI names them.
type clientFlags struct {
	address, namespace, profile, configFile string
}

// globalClient holds the flags of the command line being run (newRootCmd
// binds them afresh, so each execute starts from no flags).
var globalClient clientFlags

// bind adds the flags to fs (the root command's persistent flags).
func (f *clientFlags) bind(fs *pflag.FlagSet) {
	*f = clientFlags{}
	fs.StringVar(&f.address, "address", "", "host:port of the Temporal frontend (over NOVAFLOW_TEMPORAL_ADDRESS, TEMPORAL_ADDRESS and the profile)")
	fs.StringVar(&f.namespace, "namespace", "", "Temporal namespace (over NOVAFLOW_TEMPORAL_NAMESPACE, TEMPORAL_NAMESPACE and the profile)")
	fs.StringVar(&f.profile, "profile", "", "profile of Temporal's client configuration file, as the temporal CLI's --profile (TEMPORAL_PROFILE; default: default)")
	fs.StringVar(&f.configFile, "config-file", "", "Temporal's client configuration file (TOML), as the temporal CLI's --config-file (TEMPORAL_CONFIG_FILE; default: temporalio/temporal.toml in the user's configuration folder)")
}

// apply returns env with the flags that are given set over it.
func (f clientFlags) apply(env worker.Env) worker.Env {
	var kv []string
	for _, s := range []struct{ key, value string }{
		{"NOVAFLOW_TEMPORAL_ADDRESS", f.address},
		{"NOVAFLOW_TEMPORAL_NAMESPACE", f.namespace},
		{"TEMPORAL_PROFILE", f.profile},
		{"TEMPORAL_CONFIG_FILE", f.configFile},
	} {
		if s.value != "" {
			kv = append(kv, s.key+"="+s.value)
		}
	}
	if len(kv) == 0 {
		return env
	}
	return env.With(kv...)
}

// temporalGiven reports whether the Temporal server is chosen on purpose:
// by a flag or by a variable of the process's environment (an address or a
// profile), so that a dev stack's does not replace it.
func (f clientFlags) temporalGiven() bool {
	if f.address != "" || f.profile != "" || f.configFile != "" {
		return true
	}
	for _, k := range []string{"NOVAFLOW_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"} {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
}

// namespaceGiven reports whether the namespace is chosen on purpose.
func (f clientFlags) namespaceGiven() bool {
	return f.namespace != "" || os.Getenv("NOVAFLOW_TEMPORAL_NAMESPACE") != "" || os.Getenv("TEMPORAL_NAMESPACE") != ""
}

// withoutTemporalConfig returns env without Temporal's own client
// configuration (TEMPORAL_* variables, the profile file): for the services
// of `novaflow dev` on its own Temporal server, which a shell's
// TEMPORAL_API_KEY or TLS profile must not point elsewhere.
func withoutTemporalConfig(env worker.Env) worker.Env {
	out := make(worker.Env, len(env))
	for k, v := range env {
		if !strings.HasPrefix(k, "TEMPORAL_") {
			out[k] = v
		}
	}
	out["TEMPORAL_CONFIG_FILE"] = os.DevNull
	return out
}
