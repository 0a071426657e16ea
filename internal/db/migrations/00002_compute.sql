-- Version 2 of novaflow's core schema created the reference control plane's
-- compute_nodes, instances and instance_actions. They are that control
-- plane's own now (schema compute_store, managers/compute/store/migrations),
-- so that the framework's schema holds only the framework's tables. The
-- version stays, empty, so that databases made before keep their numbering;
-- their tables stay too, and the new migration leaves them as they are.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
