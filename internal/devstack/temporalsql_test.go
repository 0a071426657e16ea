package devstack

import (
	"fmt"
	"strings"
	"testing"
)

// TestTemporalDynamicConfigHasTheDevServerSettings keeps the dynamic config of
// the Temporal server on PostgreSQL in step with the dev server's flags.
func TestTemporalDynamicConfigHasTheDevServerSettings(t *testing.T) {
	dyn := TemporalDynamicConfig()
	args := TemporalServerArgs(false)
	n := 0
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "--dynamic-config-value" {
			continue
		}
		n++
		key, value, _ := strings.Cut(args[i+1], "=")
		got, ok := dyn[key]
		if !ok || fmt.Sprint(got) != value {
			t.Errorf("TemporalDynamicConfig()[%q] = %v (set: %v), want %s as TemporalServerArgs has it", key, got, ok, value)
		}
	}
	if n == 0 {
		t.Fatal("TemporalServerArgs gives no --dynamic-config-value")
	}
}

func TestParsePostgresURL(t *testing.T) {
	pg, err := parsePostgresURL("postgres://u:p%40ss@db.internal:6432/novaflow?sslmode=verify-full&sslrootcert=/etc/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	if pg.host != "db.internal" || pg.port != "6432" || pg.user != "u" || pg.password != "p@ss" || !pg.tls || !pg.verifyHost || pg.rootCert != "/etc/ca.crt" {
		t.Errorf("parsed %+v", pg)
	}
	if got := pg.dbURL("temporal"); got != "postgres://u:p%40ss@db.internal:6432/temporal?sslmode=verify-full&sslrootcert=/etc/ca.crt" {
		t.Errorf("dbURL = %s", got)
	}
	for _, bad := range []string{"mysql://x@h/db", "postgres:///db", "postgres://u@h/db?sslmode=sometimes"} {
		if _, err := parsePostgresURL(bad); err == nil {
			t.Errorf("parsePostgresURL(%q) succeeded, want an error", bad)
		}
	}
}
