-- The tables of the reference control plane that its compute, scheduler and
-- conductor share (schema compute_store, tracked in goose_compute_store, which
-- each of the three lists in its Definition.Schemas):
--
--   compute_nodes     one live row per compute host: its capacity as the
--                     driver reports it and the usage of the instances claimed
--                     on it (nova's ComputeNode, as the resource tracker and
--                     the scheduler see it);
--   instances         one row per instance, with nova's vm_state, task_state
--                     and power_state, its flavor and image command; soft
--                     deleted (nova's Instance);
--   instance_actions  an audit row for every operation on an instance (nova's
--                     instance_actions, with the event's result folded in).
--
-- Usage is kept by claims: an instance counts against the node of its host
-- from the moment it is claimed there until it is deleted or its claim is
-- released. Every claim locks the node's row first, so two claims on one node
-- never both see the same free capacity.

-- Until this schema was the reference control plane's own, these tables were
-- version 2 of novaflow's core schema: a database made then has them already,
-- hence IF NOT EXISTS, which makes this migration a no-op there.

-- +goose Up
CREATE TABLE IF NOT EXISTS compute_nodes (
    id             bigserial   PRIMARY KEY,
    host           text        NOT NULL CHECK (host <> ''),
    vcpus          integer     NOT NULL DEFAULT 0 CHECK (vcpus >= 0),
    memory_mb      integer     NOT NULL DEFAULT 0 CHECK (memory_mb >= 0),
    disk_gb        integer     NOT NULL DEFAULT 0 CHECK (disk_gb >= 0),
    vcpus_used     integer     NOT NULL DEFAULT 0 CHECK (vcpus_used >= 0),
    memory_mb_used integer     NOT NULL DEFAULT 0 CHECK (memory_mb_used >= 0),
    disk_gb_used   integer     NOT NULL DEFAULT 0 CHECK (disk_gb_used >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    deleted        boolean     NOT NULL DEFAULT false
);

CREATE UNIQUE INDEX IF NOT EXISTS compute_nodes_host_live ON compute_nodes (host) WHERE NOT deleted;

CREATE TABLE IF NOT EXISTS instances (
    id            bigserial   PRIMARY KEY,
    uuid          uuid        NOT NULL UNIQUE,
    name          text        NOT NULL DEFAULT '',
    -- The host the instance is claimed on or runs on; null while it is being
    -- scheduled or after its claim was released.
    host          text        CHECK (host <> ''),
    vm_state      text        NOT NULL DEFAULT 'building'
                  CHECK (vm_state IN ('building', 'active', 'stopped', 'error', 'deleted')),
    task_state    text
                  CHECK (task_state IN ('scheduling', 'spawning', 'powering-off', 'powering-on',
                                        'rebooting', 'rebooting_hard', 'deleting')),
    power_state   text        NOT NULL DEFAULT 'NOSTATE'
                  CHECK (power_state IN ('NOSTATE', 'RUNNING', 'PAUSED', 'SHUTDOWN', 'CRASHED', 'SUSPENDED')),
    flavor_name   text        NOT NULL DEFAULT '',
    vcpus         integer     NOT NULL CHECK (vcpus > 0),
    memory_mb     integer     NOT NULL CHECK (memory_mb > 0),
    disk_gb       integer     NOT NULL CHECK (disk_gb >= 0),
    image_command text[]      NOT NULL CHECK (cardinality(image_command) > 0),
    image_env     text[]      NOT NULL DEFAULT '{}',
    -- Why the instance is in ERROR (nova's instance fault), else null.
    fault         text,
    launched_at   timestamptz,
    terminated_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    deleted       boolean     NOT NULL DEFAULT false
);

CREATE INDEX IF NOT EXISTS instances_host_live ON instances (host) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS instances_host_deleted ON instances (host, deleted_at) WHERE deleted;

CREATE TABLE IF NOT EXISTS instance_actions (
    id            bigserial   PRIMARY KEY,
    -- The request the operation belongs to; a retried operation with the same
    -- request id updates its row instead of adding one.
    request_id    text        NOT NULL CHECK (request_id <> ''),
    -- create, build, stop, start, reboot, delete (nova's action names, plus
    -- build: one row per attempt on a host).
    action        text        NOT NULL CHECK (action <> ''),
    instance_uuid uuid        NOT NULL REFERENCES instances (uuid) ON DELETE CASCADE,
    -- The host that did the operation; '' for the conductor's create.
    host          text        NOT NULL DEFAULT '',
    start_time    timestamptz NOT NULL DEFAULT now(),
    finish_time   timestamptz,
    -- null while running, then Success or Error (nova's event results).
    result        text        CHECK (result IN ('Success', 'Error')),
    message       text
);

CREATE UNIQUE INDEX IF NOT EXISTS instance_actions_request ON instance_actions (instance_uuid, request_id, action, host);
CREATE INDEX IF NOT EXISTS instance_actions_instance ON instance_actions (instance_uuid, start_time);

-- +goose Down
DROP TABLE IF EXISTS instance_actions;
DROP TABLE IF EXISTS instances;
DROP TABLE IF EXISTS compute_nodes;
