-- The dns service's table, in a PostgreSQL schema of its own (dns), so
-- that its names never clash with another service's; goose_dns tracks it.

-- +goose Up
CREATE SCHEMA IF NOT EXISTS dns;
CREATE TABLE dns.records (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    type       text        NOT NULL CHECK (type IN ('A', 'AAAA', 'CNAME', 'TXT')),
    value      text        NOT NULL,
    ttl        integer     NOT NULL CHECK (ttl > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE UNIQUE INDEX records_live ON dns.records (name, type, value) WHERE deleted_at IS NULL;

-- +goose Down
DROP TABLE dns.records;
DROP SCHEMA dns;
