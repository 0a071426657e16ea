package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOnOffSmoke runs the codec and authz comparisons on a few calls, so
// that they do not rot: each must print its table with both scenarios and
// a ratio against the baseline.
func TestOnOffSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and PostgreSQL")
	}
	for name, run := range map[string]func(context.Context, []string) error{"codec": runCodec, "authz": runAuthz} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			out := filepath.Join(t.TempDir(), "report.md")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			stdout := os.Stdout
			os.Stdout = f
			err = run(ctx, []string{"-n", "6", "-block", "3"})
			os.Stdout = stdout
			f.Close()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			report, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var base, on bool
			for _, line := range strings.Split(string(report), "\n") {
				cells := strings.Split(strings.Trim(line, "| "), " | ")
				switch {
				case cells[0] == "call":
					base = true
				case len(cells) == 10 && cells[0] == "call-"+name && cells[6] != "":
					on = true
				}
			}
			if !base || !on {
				t.Errorf("%s: the report has no baseline row or no row with a ratio:\n%s", name, report)
			}
		})
	}
}
