-- The services table: one row per (host, binary) service process, with nova's
-- columns and rules. Rows are soft-deleted; uniqueness holds among live rows.

-- +goose Up
CREATE TABLE services (
    id              bigserial   PRIMARY KEY,
    uuid            uuid        NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    host            text        NOT NULL CHECK (host <> ''),
    "binary"        text        NOT NULL CHECK ("binary" <> ''),
    topic           text        NOT NULL CHECK (topic <> ''),
    report_count    bigint      NOT NULL DEFAULT 0,
    disabled        boolean     NOT NULL DEFAULT false,
    disabled_reason text,
    forced_down     boolean     NOT NULL DEFAULT false,
    last_seen_up    timestamptz,
    version         integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz,
    deleted_at      timestamptz,
    deleted         boolean     NOT NULL DEFAULT false
);

CREATE UNIQUE INDEX services_host_topic_live  ON services (host, topic)    WHERE NOT deleted;
CREATE UNIQUE INDEX services_host_binary_live ON services (host, "binary") WHERE NOT deleted;
CREATE INDEX services_topic_live ON services (topic) WHERE NOT deleted;

-- +goose Down
DROP TABLE services;
