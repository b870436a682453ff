-- The Label Studio project each selection run was pushed to (allabel labelstudio push/pull).
-- Kept here, not looked up by title, so two allabel databases never share a project on one
-- Label Studio server.
SET search_path = allabel, public;

CREATE TABLE labelstudio_projects (
    run_id      bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    url         text   NOT NULL,          -- the Label Studio server, as configured
    project_id  int    NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, url)
);
COMMENT ON TABLE labelstudio_projects IS 'The Label Studio project (on a server) a selection run was pushed to.';
