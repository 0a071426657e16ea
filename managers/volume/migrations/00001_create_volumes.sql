-- The volume service's tables, in public (their versions in goose_volume):
--
--   volumes       one row per volume: its size, the host that keeps its
--                 data, its status and the instance it is attached to; soft
--                 deleted (status deleted, deleted_at set);
--   volume_usage  one row per volume host: what report_usage last found.
--
-- Only the volume manager writes them: other services change volumes through
-- its RPC methods.

-- +goose Up
CREATE TABLE volumes (
    id            uuid        PRIMARY KEY,
    name          text        NOT NULL DEFAULT '',
    size_gb       integer     NOT NULL CHECK (size_gb > 0),
    host          text        NOT NULL CHECK (host <> ''),
    status        text        NOT NULL CHECK (status IN
                      ('creating', 'available', 'attaching', 'in-use', 'detaching', 'deleting', 'error', 'deleted')),
    instance_uuid uuid,
    instance_host text        NOT NULL DEFAULT '',
    mountpoint    text        NOT NULL DEFAULT '',
    attached_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    -- An attachment exists exactly while the volume is being attached, in
    -- use, or being detached.
    CHECK ((status IN ('attaching', 'in-use', 'detaching')) = (instance_uuid IS NOT NULL)),
    CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
);
CREATE INDEX volumes_host ON volumes (host) WHERE deleted_at IS NULL;
CREATE INDEX volumes_instance ON volumes (instance_uuid) WHERE instance_uuid IS NOT NULL;

CREATE TABLE volume_usage (
    host            text        PRIMARY KEY CHECK (host <> ''),
    volumes         integer     NOT NULL CHECK (volumes >= 0),
    provisioned_gb  bigint      NOT NULL CHECK (provisioned_gb >= 0),
    allocated_bytes bigint      NOT NULL CHECK (allocated_bytes >= 0),
    capacity_bytes  bigint      NOT NULL CHECK (capacity_bytes >= 0),
    free_bytes      bigint      NOT NULL CHECK (free_bytes >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE volume_usage;
DROP TABLE volumes;
