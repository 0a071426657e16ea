//go:build temporalsql

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGateSmoke runs the gate comparison on a few calls, so that it does
// not rot: it builds and starts novaflow's Temporal server on PostgreSQL
// (hence the tag; .ci/run's temporalsql stage runs it), and must print its
// table with the baseline and both enforcement scenarios with ratios.
//
//	go test -tags temporalsql -count=1 -run TestGateSmoke ./bench
func TestGateSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "report.md")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = f
	err = runGate(ctx, []string{"-n", "6", "-block", "3"})
	os.Stdout = stdout
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	report, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(string(report), "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		switch {
		case cells[0] == "call":
			rows["call"] = true
		case len(cells) == 10 && (cells[0] == "call-worker" || cells[0] == "call-gate") && cells[6] != "":
			rows[cells[0]] = true
		}
	}
	if len(rows) != 3 {
		t.Errorf("the report lacks the baseline or a scenario with its ratio (%v):\n%s", rows, report)
	}
}
