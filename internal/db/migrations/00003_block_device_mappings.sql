-- Version 3 of novaflow's core schema created the compute manager's
-- block_device_mappings. It is compute's own now (Definition.Migrations,
-- managers/compute/migrations); the version stays, empty, so that databases
-- made before keep their numbering, and the new migration leaves their table
-- as it is.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
