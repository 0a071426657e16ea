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
	if _, err := s.Register(ctx, "h1", "novaflow-x", "x", 2, ""); err != nil {
		t.Fatal(err)
	}
	_, err := s.Register(ctx, "h1", "novaflow-x", "x", 1, "")
	var tooOld *servicegroup.TooOldError
	if !errors.As(err, &tooOld) || tooOld.MinVersion != 2 || tooOld.Version != 1 {
		t.Fatalf("restart of the only service with older code: %v, want *TooOldError 1 < 2", err)
	}
	if r := get(t, s, "h1", "novaflow-x"); r.Version != 2 {
		t.Fatalf("a refused start changed the row's version to %d", r.Version)
	}
	// The same version, and a newer one, restart as before.
	for _, v := range []int{2, 3} {
		if _, err := s.Register(ctx, "h1", "novaflow-x", "x", v, ""); err != nil {
			t.Fatalf("restart at version %d: %v", v, err)
		}
	}
	// The documented way to roll back: force the row down, start the old
	// code, clear the mark.
	if _, err := s.SetForcedDown(ctx, "h1", "novaflow-x", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, "h1", "novaflow-x", "x", 1, ""); err != nil {
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
		if _, err := s.Register(ctx, r.host, r.binary, topic, r.version, ""); err != nil {
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

// TestDeleteUnseen: DeleteUnseen deletes a row only while its last_seen_up
// is the one read: a service that registered or reported since keeps its
// row (ErrSeen), a row already deleted is ErrNotFound.
func TestDeleteUnseen(t *testing.T) {
	ctx := context.Background()
	s := observeStore(t)
	for _, h := range []string{"h1", "h2", "h3"} {
		if _, err := s.Register(ctx, h, "novaflow-x", "x", 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	r1, r2, r3 := get(t, s, "h1", "novaflow-x"), get(t, s, "h2", "novaflow-x"), get(t, s, "h3", "novaflow-x")
	// h2 comes back (a restart), h3 reports, after they were read.
	if _, err := s.Register(ctx, "h2", "novaflow-x", "x", 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Report(ctx, "h3", "novaflow-x", "x", 1, ""); err != nil {
		t.Fatal(err)
	}
	if d, err := s.DeleteUnseen(ctx, "h1", "novaflow-x", r1.LastSeenUp); err != nil || !d.Deleted {
		t.Fatalf("delete of h1, unseen since read: %+v, %v", d, err)
	}
	for _, r := range []*servicegroup.Record{r2, r3} {
		if _, err := s.DeleteUnseen(ctx, r.Host, r.Binary, r.LastSeenUp); !errors.Is(err, servicegroup.ErrSeen) {
			t.Errorf("delete of %s, seen since read: %v, want ErrSeen", r.Host, err)
		}
		if g := get(t, s, r.Host, r.Binary); g.Deleted {
			t.Errorf("%s was deleted", r.Host)
		}
	}
	if _, err := s.DeleteUnseen(ctx, "h1", "novaflow-x", r1.LastSeenUp); !errors.Is(err, servicegroup.ErrNotFound) {
		t.Errorf("delete of h1 again: %v, want ErrNotFound", err)
	}
}
