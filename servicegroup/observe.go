package servicegroup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Observer is the state of a topic's status report: when it last looked at
// the topic's services (the service_observers row). Times are the database's.
type Observer struct {
	// ObservedAt is when the last report ran, or, when earlier, the oldest
	// last_seen_up that it wrote: the time as of which it saw the services
	// it counted alive.
	ObservedAt time.Time `json:"observed_at"`
	// ObservingSince is the first report after the last gap longer than
	// service_down_time (or the first report ever).
	ObservingSince time.Time `json:"observing_since"`
	// LastBeforeGap is the last report before that gap; nil when there was
	// none.
	LastBeforeGap *time.Time `json:"last_before_gap,omitempty"`
	// Source is where the last report read liveness: SourceHeartbeats or
	// SourceActivities.
	Source string `json:"source"`
	// Seen is how many services the last report saw alive.
	Seen int `json:"seen"`
}

// Sources of liveness.
const (
	// SourceHeartbeats: the Temporal SDK's worker heartbeats (ListWorkers).
	SourceHeartbeats = "heartbeats"
	// SourceActivities: an activity on each service's host queue, on a
	// server that keeps no worker heartbeats.
	SourceActivities = "activities"
)

// State is a service's liveness as Status judges it.
type State string

// The states of a service.
const (
	// Up: seen alive no longer than service_down_time ago.
	Up State = "up"
	// Down: forced down, or not seen alive for longer than
	// service_down_time while its topic's status report ran.
	Down State = "down"
	// Unknown: up when last seen, but the topic's status report has not run
	// for longer than service_down_time (Temporal unreachable, the report
	// schedule paused), or has just resumed and not seen it again yet. The
	// control plane cannot see the service; that says nothing of whether
	// it runs.
	Unknown State = "unknown"
)

// Status is nova's is_up rule with one difference: a service is judged down
// only by a status report that is running. A forced-down service is down.
// Otherwise, with last the service's last_seen_up (or its creation):
//
//   - while the topic's report runs (its last run no older than downTime), the
//     service is up when last is no older than downTime, as in nova;
//
//   - when the report has not run for longer than downTime, the service is
//     Unknown if it was up at the report's last run, else down;
//
//   - when the report has just resumed after such a gap (for less than
//     downTime), a service not seen since it resumed is Unknown if it was up
//     before the gap, else down.
//
//   - a service older than downTime that the last report saw at most
//     downTime / 2.5 (one report interval at nova's rule) old is Unknown
//     too: reports stopped before any could judge it.
//
// So an outage of Temporal, or a paused report schedule, never shows live
// services down: they show unknown, and up again at the first report after
// it.
func Status(r Record, now time.Time, downTime time.Duration) State {
	if r.ForcedDown {
		return Down
	}
	last := r.CreatedAt
	if r.LastSeenUp != nil {
		last = *r.LastSeenUp
	}
	upAt := func(t time.Time) bool { return absDuration(t.Sub(last)) <= downTime }
	o := r.Observer
	switch {
	case o == nil:
	case now.Sub(o.ObservedAt) > downTime:
		if upAt(o.ObservedAt) || last.After(o.ObservedAt) {
			return Unknown
		}
		return Down
	case o.LastBeforeGap != nil && o.ObservedAt.Sub(o.ObservingSince) < downTime && !last.After(*o.LastBeforeGap):
		// Not seen since the gap. (A report writes last_seen_up as its now()
		// minus the heartbeat's age, so the report that ended the gap leaves
		// the services it saw just before ObservingSince: after
		// LastBeforeGap, not after ObservingSince.)
		if upAt(*o.LastBeforeGap) {
			return Unknown
		}
		return Down
	}
	if upAt(now) {
		return Up
	}
	// Older than downTime, but the last report saw it at most one report
	// interval old (downTime / 2.5 at nova's rule): reports stopped before
	// any could judge it; unknown until the topic counts as not seen.
	if o != nil && o.ObservedAt.Sub(last) <= downTime*2/5 {
		return Unknown
	}
	return Down
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Sighting is a service that a status report saw alive.
type Sighting struct {
	Host   string
	Binary string
	// Heartbeat is the time of the service's last worker heartbeat, on its
	// host's clock; zero when the source has no heartbeats (activities). A
	// heartbeat is counted once: a report that finds the one it counted last
	// time does not count the service again.
	Heartbeat time.Time
	// Age is how long before the report the service was seen, by the
	// reporter's clock. The store caps it at the time since the previous
	// report, so a skewed clock moves last_seen_up by at most one interval.
	Age time.Duration
	// Cadence is how often the service sends heartbeats (0: unknown). A
	// heartbeat already counted is still proof of life while it is younger
	// than that: the service is then seen alive at its heartbeat plus the
	// cadence, capped at now. So a client that heartbeats rarely (the SDK's
	// default is 60 s) is never shown down between two heartbeats; its death
	// is seen up to one cadence later.
	Cadence time.Duration
}

// Observation is what one status report of a topic saw.
type Observation struct {
	Topic string
	// Source is SourceHeartbeats or SourceActivities.
	Source string
	// Seen are the topic's services seen alive.
	Seen []Sighting
	// DownTime is the effective service_down_time: a report that comes more
	// than DownTime after the previous one starts a new observation (the
	// services not seen again are Unknown for DownTime, not down).
	DownTime time.Duration
}

// ObserveResult is what a status report wrote.
type ObserveResult struct {
	// Reported is how many services' rows the report bumped.
	Reported int
	// Recreated names the services (binary@host) whose rows had been deleted
	// while they ran, which the report created again.
	Recreated []string
	// Gap is how long the topic had gone without a report, when that was
	// longer than DownTime (0 otherwise).
	Gap time.Duration
}

// Observe writes one status report of a topic, in one transaction: for every
// service seen alive with a heartbeat it has not counted yet (or that answered
// an activity), report_count += 1 and last_seen_up = now - age (never earlier
// than it was, nor than the previous report); a service seen alive whose row
// was deleted gets it back (nova does not, and logs a traceback every
// interval instead); and the topic's observer row records the report.
func (s *Store) Observe(ctx context.Context, o Observation) (ObserveResult, error) {
	var res ObserveResult
	if o.Topic == "" {
		return res, errors.New("observe: no topic")
	}
	hosts := make([]string, len(o.Seen))
	binaries := make([]string, len(o.Seen))
	beats := make([]*time.Time, len(o.Seen))
	ages := make([]int64, len(o.Seen))
	cadences := make([]int64, len(o.Seen))
	for i, sg := range o.Seen {
		hosts[i], binaries[i], ages[i] = sg.Host, sg.Binary, max(sg.Age, 0).Microseconds()
		cadences[i] = max(sg.Cadence, 0).Microseconds()
		if !sg.Heartbeat.IsZero() {
			hb := sg.Heartbeat
			beats[i] = &hb
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var prev, since, before *time.Time
		var now time.Time
		if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
			return fmt.Errorf("read the clock: %w", err)
		}
		err := tx.QueryRow(ctx, `SELECT observed_at, observing_since, last_before_gap
			FROM service_observers WHERE topic = $1 FOR UPDATE`, o.Topic).Scan(&prev, &since, &before)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read observer: %w", err)
		}
		gap := prev == nil
		switch {
		case prev == nil:
			before = nil
		case now.Sub(*prev) > o.DownTime:
			res.Gap = now.Sub(*prev)
			gap, before = true, prev
		}
		// The longest a sighting's age may be: back to the previous report.
		var maxAge int64
		if prev != nil {
			maxAge = max(now.Sub(*prev), 0).Microseconds()
		}
		rows, err := tx.Query(ctx, `
			WITH seen AS (
				SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $7::bigint[]) AS v(host, bin, hb, age_us, cadence_us)
			)
			UPDATE services s SET report_count = s.report_count + 1,
				last_seen_up = greatest(s.last_seen_up, now() - least(
					CASE WHEN v.hb IS NULL OR s.heartbeat_at IS DISTINCT FROM v.hb THEN v.age_us
					     ELSE greatest(v.age_us - v.cadence_us, 0) END, $5::bigint) * interval '1 microsecond'),
				heartbeat_at = v.hb, updated_at = now()
			FROM seen v
			WHERE s.host = v.host AND s."binary" = v.bin AND NOT s.deleted AND s.topic = $6
			  AND (v.hb IS NULL OR s.heartbeat_at IS DISTINCT FROM v.hb OR v.age_us <= v.cadence_us)
			RETURNING s.last_seen_up`, hosts, binaries, beats, ages, maxAge, o.Topic, cadences)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		written, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		res.Reported = len(written)
		// The report vouches for the topic as of the oldest last_seen_up it
		// wrote, not as of its now(): a service it saw alive then passes
		// service_down_time no sooner than the topic shows unobserved, so
		// if reports stop (Temporal unreachable, the service that ran them
		// killed), it shows unknown, never down.
		observedAt := now
		for _, t := range written {
			if t.Before(observedAt) {
				observedAt = t
			}
		}
		if gap {
			since = &observedAt
		}
		// A service seen alive with no live row: its row was deleted under
		// it. Recreate it, with the version of its last row (or the binary's
		// newest) and the build ID of its last row, unless the heartbeat is the one its deleted row had
		// counted (a service that died before the delete).
		rows, err = tx.Query(ctx, `
			WITH seen AS (
				SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS v(host, bin, hb)
			)
			INSERT INTO services (host, "binary", topic, version, build_id, report_count, last_seen_up, heartbeat_at)
			SELECT v.host, v.bin, $4,
				coalesce((SELECT d.version FROM services d WHERE d.host = v.host AND d."binary" = v.bin ORDER BY d.id DESC LIMIT 1),
				         (SELECT max(l.version) FROM services l WHERE l."binary" = v.bin AND NOT l.deleted), 0),
				(SELECT d.build_id FROM services d WHERE d.host = v.host AND d."binary" = v.bin ORDER BY d.id DESC LIMIT 1),
				1, now(), v.hb
			FROM seen v
			WHERE NOT EXISTS (SELECT 1 FROM services l WHERE l.host = v.host AND l."binary" = v.bin AND NOT l.deleted)
			  AND (v.hb IS NULL OR v.hb IS DISTINCT FROM
				(SELECT d.heartbeat_at FROM services d WHERE d.host = v.host AND d."binary" = v.bin ORDER BY d.id DESC LIMIT 1))
			ON CONFLICT DO NOTHING
			RETURNING "binary" || '@' || host`, hosts, binaries, beats, o.Topic)
		if err != nil {
			return fmt.Errorf("recreate deleted rows: %w", err)
		}
		res.Recreated, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("recreate deleted rows: %w", err)
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO service_observers (topic, observed_at, observing_since, last_before_gap, source, seen)
			VALUES ($1, $6, $2, $3, $4, $5)
			ON CONFLICT (topic) DO UPDATE SET observed_at = $6, observing_since = $2, last_before_gap = $3,
				source = $4, seen = $5`, o.Topic, since, before, o.Source, len(o.Seen), observedAt)
		if err != nil {
			return fmt.Errorf("record the report: %w", err)
		}
		return nil
	})
	if err != nil {
		return ObserveResult{}, fmt.Errorf("status report of topic %s: %w", o.Topic, err)
	}
	return res, nil
}
