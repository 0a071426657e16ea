package devstack

import (
	"os"
	"strings"
)

// serverEnv is the environment of the Temporal servers the stack starts:
// this process's, without the OTEL_* variables that configure novaflow's
// telemetry. The server reads some of them too and refuses to start on
// values it does not know (OTEL_TRACES_EXPORTER=console, or set but empty),
// and its own spans are not what a novaflow trace is about.
func serverEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "OTEL_") {
			out = append(out, kv)
		}
	}
	return out
}
