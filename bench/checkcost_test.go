package main

import (
	"context"
	"testing"
	"time"
)

// TestCheckCostSmoke runs the checkcost command on one run of each kind, so
// that it does not rot, and checks what it measures: a run whose input says
// check costs one action less than one behind the workflow.GetVersion gate.
func TestCheckCostSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server; about half a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rows, err := checkCost(ctx, []string{"-runs", "1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
	for i := 0; i < len(rows); i += 2 {
		gated, ungated := rows[i], rows[i+1]
		if gated.check || !ungated.check || ungated.actions <= 0 || gated.actions-ungated.actions != 1 {
			t.Errorf("%s: %+v gated, %+v with check: want one action less with check", gated.kind, gated, ungated)
		}
	}
}
