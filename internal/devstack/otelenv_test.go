package devstack

import (
	"slices"
	"testing"
)

func TestServerEnvDropsOTel(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("NOVAFLOW_KEEP", "1")
	env := serverEnv()
	if !slices.Contains(env, "NOVAFLOW_KEEP=1") {
		t.Error("serverEnv dropped an unrelated variable")
	}
	for _, kv := range env {
		if len(kv) >= 5 && kv[:5] == "OTEL_" {
			t.Errorf("serverEnv kept %s", kv)
		}
	}
}
