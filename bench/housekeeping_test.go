package main

import (
	"context"
	"testing"
	"time"
)

// TestHousekeepingSmoke runs the housekeeping command on a small scale, so
// that it does not rot: two hosts of the default design for a short window.
// It builds the binary and starts a Temporal dev server and PostgreSQL, as
// the command does, and checks that it measured: both hosts up, actions and
// persistence requests counted, no execution per host beyond the topic's.
func TestHousekeepingSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds novaflow and starts a Temporal server and PostgreSQL; about a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rows, err := housekeeping(ctx, []string{"-hosts", "2", "-window", "15s", "-warmup", "5s", "-idle", "0", "-designs", "topic"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	r := rows[0]
	if r.up != 2 || r.down != 0 || r.unknown != 0 {
		t.Errorf("hosts up/down/unknown = %d/%d/%d, want 2/0/0", r.up, r.down, r.unknown)
	}
	if r.actions <= 0 || r.persistence <= 0 || r.serviceRowWrites <= 0 {
		t.Errorf("nothing measured: %+v", r)
	}
}
