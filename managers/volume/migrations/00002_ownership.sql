-- Who owns a volume, as cinder's volumes.project_id and user_id: the project
-- and user of the token that created it (package auth). NULL for volumes
-- created while authorization was off: only admins and services see them
-- once it is on.

-- +goose Up
ALTER TABLE volumes ADD COLUMN project_id text, ADD COLUMN user_id text;
CREATE INDEX volumes_project ON volumes (project_id) WHERE deleted_at IS NULL;

-- +goose Down
DROP INDEX volumes_project;
ALTER TABLE volumes DROP COLUMN user_id, DROP COLUMN project_id;
