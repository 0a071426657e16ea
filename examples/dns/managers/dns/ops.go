package dns

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/novaflow/novaflow/examples/dns/drivers/dns"
	"github.com/novaflow/novaflow/managers"
)

// CreateRecord adds the record and serves it from this host's backend;
// the other hosts serve it from their next sync_records. A repeated request
// returns the record; a record_id, or a name, type and value, that another
// record has is a Conflict.
func (m *Manager) CreateRecord(ctx context.Context, req CreateRequest) (Record, error) {
	if req.TTL == 0 {
		req.TTL = DefaultTTL
	}
	unlock, err := m.locks.Lock(ctx, req.Name)
	if err != nil {
		return Record{}, fmt.Errorf("create record %s: %w", req.RecordID, err)
	}
	defer unlock()
	r, inserted, err := m.store.insert(ctx, req)
	if err != nil {
		return Record{}, err
	}
	if !inserted {
		if r, err = m.store.get(ctx, req.RecordID); errors.Is(err, errNoRow) {
			r, err = m.store.live(ctx, req.Name, req.Type, req.Value)
			if err == nil {
				return Record{}, managers.Conflict("%s %s %s exists as record %s", r.Name, r.Type, r.Value, r.ID)
			}
		}
		switch {
		case err != nil:
			return Record{}, err // errNoRow: deleted since; the retry inserts it
		case r.DeletedAt != nil:
			return Record{}, managers.Conflict("record %s was deleted; choose another record_id", r.ID)
		case r.Name != req.Name || r.Type != req.Type || r.Value != req.Value || r.TTL != req.TTL:
			return Record{}, managers.Conflict("record %s exists as %s %s %s (ttl %d)", r.ID, r.Name, r.Type, r.Value, r.TTL)
		}
	}
	return r, m.driver.Publish(ctx, backend(r))
}

// DeleteRecord marks the record deleted and withdraws it from this host's
// backend; the other hosts withdraw it at their next sync_records.
// Deleting a deleted record withdraws it again.
func (m *Manager) DeleteRecord(ctx context.Context, req DeleteRequest) (Record, error) {
	r, err := m.store.get(ctx, req.RecordID)
	if errors.Is(err, errNoRow) {
		return Record{}, managers.NotFound("record", req.RecordID)
	}
	if err != nil {
		return Record{}, err
	}
	unlock, err := m.locks.Lock(ctx, r.Name)
	if err != nil {
		return Record{}, fmt.Errorf("delete record %s: %w", r.ID, err)
	}
	defer unlock()
	if r, err = m.store.delete(ctx, r.ID); err != nil {
		return Record{}, err
	}
	return r, m.driver.Withdraw(ctx, backend(r))
}

// ListRecords lists the live records.
func (m *Manager) ListRecords(ctx context.Context, req ListRequest) (ListResult, error) {
	rs, err := m.store.list(ctx, req.Name)
	return ListResult{Records: rs}, err
}

// SyncRecords makes this host's backend serve exactly the live records of
// the table: the periodic task sync_records, also run before the service
// takes work.
func (m *Manager) SyncRecords(ctx context.Context) error {
	served, err := m.driver.List(ctx)
	if err != nil {
		return fmt.Errorf("sync records: %w", err)
	}
	live, err := m.store.list(ctx, "")
	if err != nil {
		return fmt.Errorf("sync records: %w", err)
	}
	byName := map[string][]dns.Record{} // what is served, by name, of every name served or live
	for _, r := range served {
		byName[r.Name] = append(byName[r.Name], r)
	}
	for _, r := range live {
		if _, ok := byName[r.Name]; !ok {
			byName[r.Name] = nil
		}
	}
	var changes int
	for name, served := range byName {
		n, err := m.syncName(ctx, name, served)
		if err != nil {
			return fmt.Errorf("sync records of %s: %w", name, err)
		}
		changes += n
	}
	if changes > 0 {
		m.logger.InfoContext(ctx, "synced DNS records", "changes", changes)
	}
	return nil
}

// syncName publishes the live records of name that the backend lacks (or
// serves with another TTL) and withdraws those it serves that are not
// live, under the name's lock; served may be stale, as both are idempotent.
func (m *Manager) syncName(ctx context.Context, name string, served []dns.Record) (changes int, err error) {
	unlock, err := m.locks.Lock(ctx, name)
	if err != nil {
		return 0, err
	}
	defer unlock()
	live, err := m.store.list(ctx, name)
	if err != nil {
		return 0, err
	}
	want := make([]dns.Record, len(live))
	for i, r := range live {
		want[i] = backend(r)
		if !slices.Contains(served, want[i]) {
			if err := m.driver.Publish(ctx, want[i]); err != nil {
				return changes, err
			}
			changes++
		}
	}
	for _, s := range served {
		if !slices.ContainsFunc(want, func(w dns.Record) bool { return w.Type == s.Type && w.Value == s.Value }) {
			if err := m.driver.Withdraw(ctx, s); err != nil {
				return changes, err
			}
			changes++
		}
	}
	return changes, nil
}

// backend is r as a driver serves it.
func backend(r Record) dns.Record {
	return dns.Record{Name: r.Name, Type: r.Type, Value: r.Value, TTL: r.TTL}
}
