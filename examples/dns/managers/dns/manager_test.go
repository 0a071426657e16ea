package dns_test

import (
	"encoding/json"
	"testing"

	"github.com/novaflow/novaflow/examples/dns/drivers/dns"
	"github.com/novaflow/novaflow/examples/dns/drivers/dns/fake"
	dnsmgr "github.com/novaflow/novaflow/examples/dns/managers/dns"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/managertest"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const www = `{"record_id":"6c3d1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","name":"www.example.org","type":"A","value":"192.0.2.1"}`

// newManager builds the dns manager of host with the fake driver on pool.
func newManager(t *testing.T, opts ...managertest.Option) *dnsmgr.Manager {
	t.Helper()
	opts = append(opts, managertest.WithSettings(func(s *dnsmgr.Settings) { s.Driver = fake.Name }))
	m, _ := managertest.New[*dnsmgr.Manager](t, dnsmgr.Topic, opts...)
	return m
}

func served(t *testing.T, m *dnsmgr.Manager) []dns.Record {
	t.Helper()
	rs, err := m.Driver().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestCreateListDelete(t *testing.T) {
	m := newManager(t)
	for range 2 { // a repeated request finds its record
		if _, err := managertest.Call(t, m, "create_record", www); err != nil {
			t.Fatal(err)
		}
	}
	out, err := managertest.Call(t, m, "list_records", `{"name":"www.example.org"}`)
	if err != nil {
		t.Fatal(err)
	}
	var list dnsmgr.ListResult
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Records) != 1 || list.Records[0].TTL != dnsmgr.DefaultTTL {
		t.Fatalf("list_records = %s, want www with the default TTL", out)
	}
	want := []dns.Record{{Name: "www.example.org", Type: "A", Value: "192.0.2.1", TTL: dnsmgr.DefaultTTL}}
	if got := served(t, m); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("the backend serves %v, want %v", got, want)
	}
	for range 2 { // so does a repeated delete
		if _, err := managertest.Call(t, m, "delete_record", `{"record_id":"6c3d1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"}`); err != nil {
			t.Fatal(err)
		}
	}
	if got := served(t, m); len(got) != 0 {
		t.Fatalf("the backend serves %v after delete_record", got)
	}
}

func TestBadRequests(t *testing.T) {
	m := newManager(t)
	if _, err := managertest.Call(t, m, "create_record", www); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, req, typ, field string }{
		{"create_record", `{"record_id":"x","name":"www.example.org","type":"A","value":"192.0.2.1"}`, managers.InvalidArgumentType, "record_id"},
		{"create_record", `{"record_id":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","name":"WWW","type":"A","value":"192.0.2.1"}`, managers.InvalidArgumentType, "name"},
		{"create_record", `{"record_id":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","name":"www.example.org","type":"MX","value":"x"}`, managers.InvalidArgumentType, "type"},
		{"create_record", `{"record_id":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","name":"www.example.org","type":"AAAA","value":"192.0.2.1"}`, managers.InvalidArgumentType, "value"},
		{"create_record", `{"record_id":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","name":"www.example.org","type":"A","value":"192.0.2.1","ttl":5}`, managers.InvalidArgumentType, "ttl"},
		{"create_record", `{"record_id":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","name":"www.example.org","type":"A"}`, managers.InvalidArgumentType, "value"},
		{"create_record", `{"record_id":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11","name":"www.example.org","type":"A","value":"192.0.2.1"}`, managers.ConflictType, ""},
		{"delete_record", `{"record_id":"0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"}`, managers.NotFoundType, ""},
		{"list_records", `{"name":"-x.org"}`, managers.InvalidArgumentType, "name"},
	} {
		_, err := managertest.Call(t, m, c.method, c.req)
		e, ok := managers.AsError(err)
		if !ok || e.Type != c.typ || e.Field != c.field || e.Retryable() {
			t.Errorf("%s %s: %v, want a non-retryable %s naming field %q", c.method, c.req, err, c.typ, c.field)
		}
	}
}

// TestSyncRecords: sync_records makes each host's backend serve the table,
// here a second host's, which has neither served nor seen www.
func TestSyncRecords(t *testing.T) {
	db := managertest.Database(t, dnsmgr.Topic)
	h1 := newManager(t, managertest.WithDB(db), managertest.WithHost("host-1"))
	h2 := newManager(t, managertest.WithDB(db), managertest.WithHost("host-2"))
	stale := dns.Record{Name: "old.example.org", Type: "TXT", Value: "gone", TTL: 60}
	if err := h2.Driver().Publish(t.Context(), stale); err != nil {
		t.Fatal(err)
	}
	if _, err := managertest.Call(t, h1, "create_record", www); err != nil {
		t.Fatal(err)
	}
	task := h2.PeriodicTasks()[0]
	if task.Name != "sync_records" || task.Spacing != managers.Defaults[dnsmgr.Settings]().SyncInterval {
		t.Fatalf("periodic task %s every %s", task.Name, task.Spacing)
	}
	if err := task.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := served(t, h2), served(t, h1); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("host-2 serves %v, want %v", got, want)
	}
}

// TestOwnSchema: the table is dns.records, apart from novaflow's tables in
// public, and goose_dns tracks its migrations, which a second Migrate (a
// second service starting) finds applied.
func TestOwnSchema(t *testing.T) {
	_, db := managertest.New[*dnsmgr.Manager](t, dnsmgr.Topic)
	def, err := managers.Lookup(dnsmgr.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Migrate(t.Context(), db, def); err != nil {
		t.Fatal(err)
	}
	var table string
	var version int64
	if err := db.QueryRow(t.Context(), `SELECT to_regclass('dns.records')::text,
		(SELECT max(version_id) FROM goose_dns WHERE is_applied)`).Scan(&table, &version); err != nil {
		t.Fatal(err)
	}
	if table != "dns.records" || version != 1 {
		t.Fatalf("table %q at version %d, want dns.records at 1", table, version)
	}
}
