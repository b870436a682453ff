-- Run lifecycle: a run is `running` only while a live process holds it.
-- A holder keeps a session-level advisory lock (classid 16, objid = run id) on its own
-- connection; `interrupted` is what a run becomes when its holder is gone (signal, kill,
-- lost database) without finishing. `holder` says who works on it (host:pid), for people.
SET search_path = allabel, public;

ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('created', 'running', 'awaiting_annotation', 'interrupted', 'done', 'failed'));
ALTER TABLE runs ADD COLUMN holder text;
COMMENT ON COLUMN runs.holder IS 'host:pid of the last process that worked on the run (its liveness is the advisory lock 16/run id).';
COMMENT ON COLUMN runs.status IS 'created | running (a live holder exists) | awaiting_annotation | interrupted (holder gone without finishing; run the command again) | done | failed (see error)';
