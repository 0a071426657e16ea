-- Who owns an instance, as nova's instances.project_id and user_id: the
-- project and user of the token that built it (package auth). NULL for
-- instances built while authorization was off, or before this migration:
-- only admins and services may act on those once it is on.

-- +goose Up
ALTER TABLE instances ADD COLUMN project_id text, ADD COLUMN user_id text;
CREATE INDEX instances_project ON instances (project_id) WHERE NOT deleted;

-- +goose Down
DROP INDEX instances_project;
ALTER TABLE instances DROP COLUMN user_id, DROP COLUMN project_id;
