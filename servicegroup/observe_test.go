package servicegroup_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestStatus pins the liveness rule (docs/schedules.md, Liveness): nova's
// is_up while the topic's report runs, unknown (never down) for the services
// that were up when the control plane lost sight of them, and, after a gap,
// unknown until seen again.
func TestStatus(t *testing.T) {
	const down = 10 * time.Second
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { at := now.Add(-d); return &at }
	fresh := &servicegroup.Observer{ObservedAt: *ago(time.Second), ObservingSince: *ago(time.Hour)}
	stale := &servicegroup.Observer{ObservedAt: *ago(30 * time.Second), ObservingSince: *ago(time.Hour)}
	// Reports resumed 3 s ago after a gap: the last one before it was 60 s ago.
	warming := &servicegroup.Observer{ObservedAt: *ago(time.Second), ObservingSince: *ago(3 * time.Second), LastBeforeGap: ago(60 * time.Second)}
	// Reports resumed 15 s ago (more than service_down_time) after that gap.
	warmed := &servicegroup.Observer{ObservedAt: *ago(time.Second), ObservingSince: *ago(15 * time.Second), LastBeforeGap: ago(75 * time.Second)}

	tests := []struct {
		name    string
		created time.Duration // how long ago the row was created
		last    *time.Time    // last_seen_up
		forced  bool
		obs     *servicegroup.Observer
		want    servicegroup.State
	}{
		{name: "forced down, seen a moment ago", created: time.Hour, last: ago(time.Second), forced: true, obs: fresh, want: servicegroup.Down},
		{name: "forced down, reports stopped", created: time.Hour, last: ago(31 * time.Second), forced: true, obs: stale, want: servicegroup.Down},

		{name: "never observed: seen 5 s ago", created: time.Hour, last: ago(5 * time.Second), want: servicegroup.Up},
		{name: "never observed: seen 15 s ago", created: time.Hour, last: ago(15 * time.Second), want: servicegroup.Down},
		{name: "never observed: created 5 s ago, never seen", created: 5 * time.Second, want: servicegroup.Up},
		{name: "never observed: created 15 s ago, never seen", created: 15 * time.Second, want: servicegroup.Down},

		{name: "fresh observer: seen 5 s ago", created: time.Hour, last: ago(5 * time.Second), obs: fresh, want: servicegroup.Up},
		{name: "fresh observer: seen 10 s ago", created: time.Hour, last: ago(down), obs: fresh, want: servicegroup.Up},
		{name: "fresh observer: seen 11 s ago", created: time.Hour, last: ago(11 * time.Second), obs: fresh, want: servicegroup.Down},
		{name: "fresh observer: last_seen_up ahead of now", created: time.Hour, last: ago(-5 * time.Second), obs: fresh, want: servicegroup.Up},
		// The last report, 8 s ago, did not see a new heartbeat of a service
		// last seen 3 s before it; then reports stopped. No report has judged
		// it since it passed service_down_time: unknown, not down.
		{name: "late report: seen 3 s before the last report, 11 s ago", created: time.Hour, last: ago(11 * time.Second),
			obs: &servicegroup.Observer{ObservedAt: *ago(8 * time.Second), ObservingSince: *ago(time.Hour)}, want: servicegroup.Unknown},
		{name: "late report: seen 5 s before the last report, 11 s ago", created: time.Hour, last: ago(11 * time.Second),
			obs: &servicegroup.Observer{ObservedAt: *ago(6 * time.Second), ObservingSince: *ago(time.Hour)}, want: servicegroup.Down},

		{name: "stale observer: up at its last report", created: time.Hour, last: ago(32 * time.Second), obs: stale, want: servicegroup.Unknown},
		{name: "stale observer: already down at its last report", created: time.Hour, last: ago(50 * time.Second), obs: stale, want: servicegroup.Down},
		{name: "stale observer: registered since its last report", created: time.Hour, last: ago(20 * time.Second), obs: stale, want: servicegroup.Unknown},

		{name: "warming: up before the gap, not seen again yet", created: time.Hour, last: ago(62 * time.Second), obs: warming, want: servicegroup.Unknown},
		{name: "warming: down before the gap, not seen again", created: time.Hour, last: ago(80 * time.Second), obs: warming, want: servicegroup.Down},
		// The report that ended the gap saw it, with a heartbeat 500 ms old:
		// its last_seen_up is that heartbeat, just before the report.
		{name: "warming: seen by the report that ended the gap", created: time.Hour, last: ago(3500 * time.Millisecond), obs: warming, want: servicegroup.Up},
		{name: "warming: seen by a later report", created: time.Hour, last: ago(1300 * time.Millisecond), obs: warming, want: servicegroup.Up},
		{name: "warmed: up before the gap, still not seen", created: time.Hour, last: ago(77 * time.Second), obs: warmed, want: servicegroup.Down},
		{name: "warmed: seen again", created: time.Hour, last: ago(1300 * time.Millisecond), obs: warmed, want: servicegroup.Up},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servicegroup.Record{CreatedAt: now.Add(-tt.created), LastSeenUp: tt.last, ForcedDown: tt.forced, Observer: tt.obs}
			if got := servicegroup.Status(r, now, down); got != tt.want {
				t.Errorf("Status = %s, want %s", got, tt.want)
			}
			if got, want := servicegroup.IsUp(r, now, down), tt.want != servicegroup.Down; got != want {
				t.Errorf("IsUp = %t, want %t (unknown counts as up)", got, want)
			}
		})
	}
}

// observeStore is a store on a fresh database with the schema.
func observeStore(t *testing.T) *servicegroup.Store {
	t.Helper()
	ctx := context.Background()
	pool, err := db.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := db.Migrate(ctx, pool, nil, db.Core()); err != nil {
		t.Fatal(err)
	}
	return servicegroup.NewStore(pool)
}

func get(t *testing.T, s *servicegroup.Store, host, binary string) *servicegroup.Record {
	t.Helper()
	r, err := s.Get(context.Background(), host, binary)
	if err != nil {
		t.Fatalf("get %s@%s: %v", binary, host, err)
	}
	return r
}

func observe(t *testing.T, s *servicegroup.Store, o servicegroup.Observation) servicegroup.ObserveResult {
	t.Helper()
	res, err := s.Observe(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestObserveCountsEachHeartbeatOnce: a report bumps report_count and
// last_seen_up (the heartbeat's time on the database's clock) of the services
// it saw, once per heartbeat, only in its own topic; last_seen_up never moves
// back, nor further back than the previous report; the observer row records
// the report.
func TestObserveCountsEachHeartbeatOnce(t *testing.T) {
	t.Parallel()
	s := observeStore(t)
	ctx := context.Background()
	for _, host := range []string{"a", "b"} {
		if _, err := s.Register(ctx, host, "novaflow-compute", "compute", 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Register(ctx, "a", "novaflow-other", "other", 1, ""); err != nil {
		t.Fatal(err)
	}
	const down = time.Minute
	// A first report, which sees nobody: a sighting's age counts back at most
	// to the previous report.
	observe(t, s, servicegroup.Observation{Topic: "compute", Source: servicegroup.SourceHeartbeats, DownTime: down})
	time.Sleep(300 * time.Millisecond)
	hb1 := time.Now().Add(-200 * time.Millisecond)
	before := time.Now()
	res := observe(t, s, servicegroup.Observation{Topic: "compute", Source: servicegroup.SourceHeartbeats, DownTime: down, Seen: []servicegroup.Sighting{
		{Host: "a", Binary: "novaflow-compute", Heartbeat: hb1, Age: 200 * time.Millisecond},
		// another topic's service is not this report's to write
		{Host: "a", Binary: "novaflow-other", Heartbeat: hb1, Age: 200 * time.Millisecond},
	}})
	after := time.Now()
	if res.Reported != 1 || len(res.Recreated) != 0 || res.Gap != 0 {
		t.Fatalf("first report: %+v, want 1 reported", res)
	}
	a := get(t, s, "a", "novaflow-compute")
	if a.ReportCount != 1 || a.HeartbeatAt == nil || !a.HeartbeatAt.Equal(hb1.Truncate(time.Microsecond)) {
		t.Fatalf("a after the first report: count %d, heartbeat %v", a.ReportCount, a.HeartbeatAt)
	}
	// last_seen_up is the report's now() minus the heartbeat's age.
	if lo, hi := before.Add(-200*time.Millisecond-50*time.Millisecond), after.Add(-200*time.Millisecond+50*time.Millisecond); a.LastSeenUp.Before(lo) || a.LastSeenUp.After(hi) {
		t.Errorf("a's last_seen_up %s, want within [%s, %s]", a.LastSeenUp.Format(time.RFC3339Nano), lo.Format(time.RFC3339Nano), hi.Format(time.RFC3339Nano))
	}
	if b := get(t, s, "b", "novaflow-compute"); b.ReportCount != 0 {
		t.Errorf("b, not seen, was counted: %d", b.ReportCount)
	}
	if o := get(t, s, "a", "novaflow-other"); o.ReportCount != 0 || o.HeartbeatAt != nil {
		t.Errorf("a service of another topic was written: %+v", o)
	}

	// The same heartbeat again (a dead service the server still lists): not
	// counted again.
	first := *a.LastSeenUp
	res = observe(t, s, servicegroup.Observation{Topic: "compute", Source: servicegroup.SourceHeartbeats, DownTime: down, Seen: []servicegroup.Sighting{
		{Host: "a", Binary: "novaflow-compute", Heartbeat: hb1, Age: 400 * time.Millisecond},
	}})
	if a = get(t, s, "a", "novaflow-compute"); res.Reported != 0 || a.ReportCount != 1 || !a.LastSeenUp.Equal(first) {
		t.Fatalf("the same heartbeat twice: reported %d, count %d, last_seen_up %s (was %s)", res.Reported, a.ReportCount, a.LastSeenUp, first)
	}

	// A new heartbeat with a skewed clock (an hour old by the reporter's
	// clock): last_seen_up goes back no further than the previous report.
	recs, _, err := s.List(ctx, servicegroup.Filter{Topic: "compute"})
	if err != nil {
		t.Fatal(err)
	}
	prev := recs[0].Observer.ObservedAt
	observe(t, s, servicegroup.Observation{Topic: "compute", Source: servicegroup.SourceHeartbeats, DownTime: down, Seen: []servicegroup.Sighting{
		{Host: "a", Binary: "novaflow-compute", Heartbeat: hb1.Add(time.Second), Age: time.Hour},
	}})
	if a = get(t, s, "a", "novaflow-compute"); a.ReportCount != 2 || a.LastSeenUp.Before(prev) || a.LastSeenUp.Before(first) {
		t.Errorf("skewed heartbeat: count %d, last_seen_up %s, want 2 and not before the previous report %s", a.ReportCount, a.LastSeenUp, prev)
	}

	// Without heartbeats (activities), each report counts.
	for range 2 {
		observe(t, s, servicegroup.Observation{Topic: "compute", Source: servicegroup.SourceActivities, DownTime: down, Seen: []servicegroup.Sighting{{Host: "b", Binary: "novaflow-compute"}}})
	}
	if b := get(t, s, "b", "novaflow-compute"); b.ReportCount != 2 {
		t.Errorf("b answered two reports: count %d", b.ReportCount)
	}
	recs, _, err = s.List(ctx, servicegroup.Filter{Topic: "compute"})
	if err != nil {
		t.Fatal(err)
	}
	if o := recs[0].Observer; o == nil || o.Source != servicegroup.SourceActivities || o.Seen != 1 || o.LastBeforeGap != nil {
		t.Errorf("observer row %+v, want the last report's source and count, no gap", o)
	}
	if recs, _, _ := s.List(ctx, servicegroup.Filter{Topic: "other"}); recs[0].Observer != nil {
		t.Errorf("topic other has an observer row, but no report of it ran: %+v", recs[0].Observer)
	}
}

// TestObserveRecreatesDeletedRows: a service seen alive whose row was deleted
// gets its row back, with its version, unless the heartbeat is the one its
// deleted row had counted (the service died before the delete).
func TestObserveRecreatesDeletedRows(t *testing.T) {
	t.Parallel()
	s := observeStore(t)
	ctx := context.Background()
	if _, err := s.Register(ctx, "a", "novaflow-compute", "compute", 7, ""); err != nil {
		t.Fatal(err)
	}
	hb := time.Now().Add(-time.Second)
	seen := func(hb time.Time) servicegroup.Observation {
		return servicegroup.Observation{Topic: "compute", Source: servicegroup.SourceHeartbeats, DownTime: time.Minute,
			Seen: []servicegroup.Sighting{{Host: "a", Binary: "novaflow-compute", Heartbeat: hb, Age: time.Second}}}
	}
	observe(t, s, seen(hb))
	deleted, err := s.Delete(ctx, "a", "novaflow-compute")
	if err != nil {
		t.Fatal(err)
	}
	if res := observe(t, s, seen(hb)); len(res.Recreated) != 0 {
		t.Fatalf("the heartbeat the deleted row had counted recreated it: %+v", res)
	}
	if _, err := s.Get(ctx, "a", "novaflow-compute"); !errors.Is(err, servicegroup.ErrNotFound) {
		t.Fatalf("row after a report of an old heartbeat: %v", err)
	}
	res := observe(t, s, seen(hb.Add(time.Second)))
	if !slices.Equal(res.Recreated, []string{"novaflow-compute@a"}) {
		t.Fatalf("recreated %v, want novaflow-compute@a", res.Recreated)
	}
	r := get(t, s, "a", "novaflow-compute")
	if r.ID == deleted.ID || r.Version != 7 || r.Topic != "compute" || r.ReportCount != 1 || r.LastSeenUp == nil {
		t.Errorf("recreated row %+v, want a new row of version 7, counted once", r)
	}
}

// TestObserveAfterAGap: a report that comes more than service_down_time after
// the previous one records the gap; the services it saw are up at once, and
// those it did not see stay unknown (they were up before the gap) until
// service_down_time has passed.
func TestObserveAfterAGap(t *testing.T) {
	t.Parallel()
	s := observeStore(t)
	ctx := context.Background()
	const down = time.Second
	for _, host := range []string{"seen", "unseen"} {
		if _, err := s.Register(ctx, host, "novaflow-compute", "compute", 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	report := func(hb time.Time) servicegroup.ObserveResult {
		return observe(t, s, servicegroup.Observation{Topic: "compute", Source: servicegroup.SourceHeartbeats, DownTime: down,
			Seen: []servicegroup.Sighting{{Host: "seen", Binary: "novaflow-compute", Heartbeat: hb, Age: time.Since(hb)}}})
	}
	states := func() map[string]servicegroup.State {
		recs, now, err := s.List(ctx, servicegroup.Filter{Topic: "compute"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]servicegroup.State{}
		for _, r := range recs {
			out[r.Host] = servicegroup.Status(r, now, down)
		}
		return out
	}
	if res := report(time.Now().Add(-100 * time.Millisecond)); res.Gap != 0 {
		t.Fatalf("the first report found a gap: %+v", res)
	}
	if got := states(); got["seen"] != servicegroup.Up || got["unseen"] != servicegroup.Up {
		t.Fatalf("after the first report: %v, want both up", got)
	}
	time.Sleep(down + 500*time.Millisecond)
	if got := states(); got["seen"] != servicegroup.Unknown || got["unseen"] != servicegroup.Unknown {
		t.Fatalf("with no report for longer than service_down_time: %v, want both unknown", got)
	}
	res := report(time.Now().Add(-100 * time.Millisecond))
	if res.Gap <= down {
		t.Fatalf("the report after %s found gap %s", down+500*time.Millisecond, res.Gap)
	}
	recs, _, err := s.List(ctx, servicegroup.Filter{Topic: "compute"})
	if err != nil {
		t.Fatal(err)
	}
	// The report vouches for the topic as of the heartbeat it counted, 100 ms
	// before it ran.
	if o := recs[0].Observer; o.LastBeforeGap == nil || !o.ObservingSince.Equal(o.ObservedAt) ||
		res.Gap-o.ObservedAt.Sub(*o.LastBeforeGap) < 100*time.Millisecond || res.Gap-o.ObservedAt.Sub(*o.LastBeforeGap) > 200*time.Millisecond {
		t.Errorf("observer after the gap %+v", o)
	}
	if got := states(); got["seen"] != servicegroup.Up || got["unseen"] != servicegroup.Unknown {
		t.Fatalf("right after the report that ended the gap: %v, want seen up, unseen unknown", got)
	}
	// Reports go on; the unseen service is down once it has had
	// service_down_time to be seen again.
	deadline := time.Now().Add(down + 2*time.Second)
	for {
		report(time.Now().Add(-100 * time.Millisecond))
		got := states()
		if got["seen"] != servicegroup.Up {
			t.Fatalf("the service seen at every report is %s", got["seen"])
		}
		if got["unseen"] == servicegroup.Down {
			break
		}
		if got["unseen"] != servicegroup.Unknown || time.Now().After(deadline) {
			t.Fatalf("the unseen service is %s", got["unseen"])
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestNoFalseDownWhenReportsStop: when reports stop (Temporal unreachable,
// the service that ran them killed), no service that the last report saw
// alive ever shows down: each is up until the topic shows unobserved, then
// unknown. The last report counted heartbeats of different ages, so the
// services' last_seen_up lag the report by different amounts.
func TestNoFalseDownWhenReportsStop(t *testing.T) {
	t.Parallel()
	s := observeStore(t)
	ctx := context.Background()
	const down = 2 * time.Second
	hosts := []string{"fresh", "older", "oldest"}
	for _, host := range hosts {
		if _, err := s.Register(ctx, host, "novaflow-compute", "compute", 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	observe(t, s, servicegroup.Observation{Topic: "compute", Source: servicegroup.SourceHeartbeats, DownTime: down})
	time.Sleep(time.Second)
	now := time.Now()
	var seen []servicegroup.Sighting
	for i, host := range hosts {
		age := time.Duration(i) * 400 * time.Millisecond
		seen = append(seen, servicegroup.Sighting{Host: host, Binary: "novaflow-compute", Heartbeat: now.Add(-age), Age: age})
	}
	observe(t, s, servicegroup.Observation{Topic: "compute", Source: servicegroup.SourceHeartbeats, DownTime: down, Seen: seen})
	recs, at, err := s.List(ctx, servicegroup.Filter{Topic: "compute"})
	if err != nil {
		t.Fatal(err)
	}
	// No report after this one: judge the rows as time goes by.
	for _, r := range recs {
		var states []string
		last := servicegroup.State("")
		for d := time.Duration(0); d <= 2*down; d += 10 * time.Millisecond {
			st := servicegroup.Status(r, at.Add(d), down)
			if st != last {
				states = append(states, fmt.Sprintf("%s at +%s", st, d))
				last = st
			}
		}
		if len(states) != 2 || !strings.HasPrefix(states[0], "up ") || !strings.HasPrefix(states[1], "unknown ") {
			t.Errorf("%s (last_seen_up %s before the report): %v, want up, then unknown", r.Host,
				r.Observer.ObservedAt.Sub(*r.LastSeenUp).Round(time.Millisecond), states)
		}
	}
}

// A heartbeat already counted still proves life while it is younger than the
// service's heartbeat cadence (a client that heartbeats every minute): the
// report moves last_seen_up to the heartbeat plus the cadence, capped at now;
// once older than that, it moves nothing.
func TestObserveSlowHeartbeats(t *testing.T) {
	t.Parallel()
	s := observeStore(t)
	ctx := context.Background()
	if _, err := s.Register(ctx, "slow", "novaflow-compute", "compute", 1, ""); err != nil {
		t.Fatal(err)
	}
	const down = 25 * time.Second
	observe(t, s, servicegroup.Observation{Topic: "compute", Source: servicegroup.SourceHeartbeats, DownTime: down})
	hb := time.Now().Add(-40 * time.Second) // counted by no report yet
	seen := func(age time.Duration) servicegroup.Observation {
		return servicegroup.Observation{Topic: "compute", Source: servicegroup.SourceHeartbeats, DownTime: down,
			Seen: []servicegroup.Sighting{{Host: "slow", Binary: "novaflow-compute", Heartbeat: hb, Age: age, Cadence: time.Minute}}}
	}
	observe(t, s, seen(40*time.Second))
	time.Sleep(200 * time.Millisecond)
	before := time.Now()
	// The same heartbeat, 40 s old, within its 60 s cadence: seen alive now.
	if res := observe(t, s, seen(40*time.Second)); res.Reported != 1 {
		t.Fatalf("a counted heartbeat within its cadence: %+v, want 1 reported", res)
	}
	if r := get(t, s, "slow", "novaflow-compute"); r.LastSeenUp.Before(before.Add(-100 * time.Millisecond)) {
		t.Errorf("last_seen_up %s, want about now (%s)", r.LastSeenUp, before)
	}
	// Older than its cadence: it proves nothing any more.
	if res := observe(t, s, seen(61*time.Second)); res.Reported != 0 {
		t.Fatalf("a heartbeat older than its cadence: %+v, want nothing reported", res)
	}
}
