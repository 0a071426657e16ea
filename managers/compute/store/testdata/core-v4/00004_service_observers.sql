-- Liveness by observation (docs/schedules.md): one status report per topic,
-- not per service. Each report run reads from Temporal which services of the
-- topic are alive (their workers' heartbeats, or, on a server without them,
-- an activity on each host) and writes report_count and last_seen_up of all of them in one
-- statement.
--
--   services.heartbeat_at      the last worker heartbeat of the service that a
--                              report counted, as the service's host sent it:
--                              a report counts a heartbeat once, so a dead
--                              service's last heartbeat never keeps it up.
--   service_observers          one row per topic: when its status report last
--                              looked at the topic's services. A topic whose
--                              report has not run for longer than
--                              service_down_time is not seen at all (Temporal
--                              unreachable, the report schedule paused): its
--                              services are shown "unknown", never "down".

-- +goose Up
ALTER TABLE services ADD COLUMN heartbeat_at timestamptz;

CREATE TABLE service_observers (
    topic                text        PRIMARY KEY CHECK (topic <> ''),
    -- when the last report saw the topic: the oldest last_seen_up it wrote,
    -- or its now() when it wrote none (the database's clock)
    observed_at          timestamptz NOT NULL,
    -- the first report run after the last gap longer than service_down_time
    observing_since      timestamptz NOT NULL,
    -- the last report run before that gap, if any: the services that were up
    -- then stay up until they have had a chance to be seen again
    last_before_gap      timestamptz,
    -- where the last report read liveness: heartbeats or activities
    source               text        NOT NULL,
    -- how many services the last report saw alive
    seen                 integer     NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE service_observers;
ALTER TABLE services DROP COLUMN heartbeat_at;
