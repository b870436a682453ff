-- labelstudio: the Label Studio project of each pushed run.
-- The current schema, in one place: `allabel init` creates a new database from these files
-- (allabel/sql/schema/, in name order); an existing one is upgraded by the migration deltas
-- (allabel/sql/migrations/). tests/test_schema.py checks that both give the same database.
SET search_path = allabel, public;

CREATE TABLE labelstudio_projects (
    run_id      bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    url         text   NOT NULL,          -- the Label Studio server, as configured
    project_id  int    NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, url)
);

COMMENT ON TABLE labelstudio_projects IS 'The Label Studio project (on a server) a selection run was pushed to.';
