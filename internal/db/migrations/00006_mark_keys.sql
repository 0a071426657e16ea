-- The keys of the marks of the framework's scheduled runs (auth.MarkKey):
-- a run's check, in a service, makes an HMAC-SHA256 over the run with the
-- key, and a host verifies it, so that a namespace writer, who cannot read
-- this database, cannot forge a mark. A service with NOVAFLOW_AUTH on reads
-- every key at its start, and makes key 1 (random) when there is none. The
-- key with the highest id makes new MACs; every key verifies, so a key is
-- rotated by adding one with a higher id, restarting the services, and
-- deleting the old one once no run it marked is in flight
-- (docs/security.md).
--
-- A new table: a release older than this one does not read it.

-- +goose Up
CREATE TABLE mark_keys (
    id         integer PRIMARY KEY,
    key        bytea NOT NULL CHECK (length(key) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE mark_keys;
