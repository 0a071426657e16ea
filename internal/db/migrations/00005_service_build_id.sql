-- The build a service runs: services.build_id, written by the service's own
-- Register at each start with its binary's build ID (NOVAFLOW_BUILD_ID, else
-- the VCS revision of a binary built from a clean tree; NULL for none), and
-- shown by novaflow service list, so that a rolling upgrade can tell which
-- build each host runs.
--
-- An expansion: a nullable column without a default, which PostgreSQL adds
-- without rewriting the table or holding its lock longer than the catalog
-- change. A release older than this one neither reads nor writes it: rows it
-- creates have none, and its Register leaves the column as it was.

-- +goose Up
ALTER TABLE services ADD COLUMN build_id text;

-- +goose Down
ALTER TABLE services DROP COLUMN build_id;
