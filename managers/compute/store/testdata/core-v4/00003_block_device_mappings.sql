-- Compute's record of the volumes it attached to its instances (nova's
-- block_device_mappings): a row is written before compute asks the volume
-- service to attach, and removed once the volume service has detached it.
-- Terminating an instance reads it to detach every volume the instance had,
-- with a durable cast to the volume service, so that a volume never stays
-- in-use by a deleted instance, even when the volume service is down at
-- that moment (a known nova failure).

-- +goose Up
CREATE TABLE block_device_mappings (
    instance_uuid uuid        NOT NULL REFERENCES instances (uuid) ON DELETE CASCADE,
    volume_id     uuid        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_uuid, volume_id)
);

-- +goose Down
DROP TABLE block_device_mappings;
