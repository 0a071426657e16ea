package servicegroup_test

import (
	"context"
	"errors"
	"testing"

	"github.com/novaflow/novaflow/servicegroup"
)

// TestRollbackRefused: as nova's ServiceTooOld, a service does not start
// with code older than the minimum version of its binary's live services,
// its own row included: a one-node cloud is not rolled back by restarting
// old code. Forcing the newer rows down first is the documented way to roll
// back on purpose.
func TestRollbackRefused(t *testing.T) {
	ctx := context.Background()
	s := observeStore(t)
	if _, err := s.Register(ctx, "h1", "novaflow-x", "x", 2); err != nil {
		t.Fatal(err)
	}
	_, err := s.Register(ctx, "h1", "novaflow-x", "x", 1)
	var tooOld *servicegroup.TooOldError
	if !errors.As(err, &tooOld) || tooOld.MinVersion != 2 || tooOld.Version != 1 {
		t.Fatalf("restart of the only service with older code: %v, want *TooOldError 1 < 2", err)
	}
	if r := get(t, s, "h1", "novaflow-x"); r.Version != 2 {
		t.Fatalf("a refused start changed the row's version to %d", r.Version)
	}
	// The same version, and a newer one, restart as before.
	for _, v := range []int{2, 3} {
		if _, err := s.Register(ctx, "h1", "novaflow-x", "x", v); err != nil {
			t.Fatalf("restart at version %d: %v", v, err)
		}
	}
	// The documented way to roll back: force the row down, start the old
	// code, clear the mark.
	if _, err := s.SetForcedDown(ctx, "h1", "novaflow-x", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, "h1", "novaflow-x", "x", 1); err != nil {
		t.Fatalf("rollback after force-down: %v", err)
	}
	if r, err := s.SetForcedDown(ctx, "h1", "novaflow-x", false); err != nil || r.Version != 1 {
		t.Fatalf("after the rollback: %+v, %v", r, err)
	}
}

// TestMinTopicVersion: the minimum version of a topic's services counts
// every live, not forced-down row of the topic, whatever the binary's name.
func TestMinTopicVersion(t *testing.T) {
	ctx := context.Background()
	s := observeStore(t)
	for _, r := range []struct {
		host, binary string
		version      int
	}{{"h1", "novaflow-y", 3}, {"h2", "my-y-service", 2}, {"h3", "novaflow-other", 1}} {
		topic := "y"
		if r.binary == "novaflow-other" {
			topic = "other"
		}
		if _, err := s.Register(ctx, r.host, r.binary, topic, r.version); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.MinTopicVersion(ctx, "y"); err != nil || v != 2 {
		t.Fatalf("MinTopicVersion(y) = %d, %v; want 2 (the row of binary my-y-service counts)", v, err)
	}
	if _, err := s.SetForcedDown(ctx, "h2", "my-y-service", true); err != nil {
		t.Fatal(err)
	}
	if v, err := s.MinTopicVersion(ctx, "y"); err != nil || v != 3 {
		t.Fatalf("MinTopicVersion(y) with h2 forced down = %d, %v; want 3", v, err)
	}
	if v, err := s.MinTopicVersion(ctx, "none"); err != nil || v != 0 {
		t.Fatalf("MinTopicVersion(none) = %d, %v; want 0", v, err)
	}
}
