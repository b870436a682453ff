-- Queries of allabel/runs.py: identity, lifecycle and liveness of runs.
-- A live holder of run R holds the session advisory lock (16, R) (pg_locks: classid 16,
-- objid R, objsubid 2) in this database.

-- name: find
SELECT id, status FROM runs WHERE kind = %(kind)s AND config_key = %(config_key)s;

-- name: create
INSERT INTO runs (kind, dataset_id, config_key, params, status)
VALUES (%(kind)s, %(dataset_id)s, %(config_key)s, %(params)s, 'created')
ON CONFLICT (kind, config_key) WHERE config_key IS NOT NULL DO NOTHING
RETURNING id, status;

-- name: get
SELECT id, kind, dataset_id, params, status FROM runs WHERE id = %(run_id)s;

-- name: lock
SELECT pg_advisory_lock_shared(16, %(run_id)s::int);

-- name: unlock
SELECT pg_advisory_unlock_shared(16, %(run_id)s::int);

-- name: start
UPDATE runs SET status = 'running', started_at = coalesce(started_at, now()), finished_at = NULL,
    error = NULL, holder = %(holder)s
WHERE id = %(run_id)s;

-- name: resume_if_reconciled
-- The lease came back after a database loss: undo a reconcile that happened meanwhile.
UPDATE runs SET status = 'running', finished_at = NULL, error = NULL
WHERE id = %(run_id)s AND status = 'interrupted';

-- name: finish
-- The holder's last word. Another live holder of the run keeps it `running` (it will finish it);
-- an `error` of NULL clears the old one.
UPDATE runs r
SET status = CASE WHEN %(status)s IN ('interrupted', 'failed', 'running') AND EXISTS (
                      SELECT 1 FROM pg_locks l
                      WHERE l.locktype = 'advisory' AND l.classid = 16 AND l.objid = r.id::oid
                        AND l.objsubid = 2 AND l.granted AND l.pid <> pg_backend_pid()
                        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
                  THEN 'running' ELSE %(status)s END,
    finished_at = CASE WHEN %(status)s = 'running' THEN NULL ELSE now() END,
    -- llm_wall_seconds: wall-clock time of all LLM work sessions of the run, summed
    stats = r.stats || %(stats)s || CASE WHEN %(seconds)s::numeric IS NULL THEN '{}'::jsonb
        ELSE jsonb_build_object('llm_wall_seconds', round(
            coalesce((r.stats ->> 'llm_wall_seconds')::numeric, 0) + %(seconds)s::numeric, 3)) END,
    error = %(error)s
WHERE r.id = %(run_id)s
RETURNING status;

-- name: reconcile
-- Runs marked running whose holder is gone (killed, lost the database, machine down).
UPDATE runs r
SET status = 'interrupted', finished_at = now(),
    error = coalesce(r.error, 'its process ended without finishing (killed, or the database '
                              'connection was lost); run the same command again to continue')
WHERE r.status = 'running'
  AND NOT EXISTS (
      SELECT 1 FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.classid = 16 AND l.objid = r.id::oid AND l.objsubid = 2
        AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
RETURNING r.id;

-- name: pending_predictions
SELECT count(*) AS pending FROM predictions WHERE run_id = %(run_id)s AND status = 'pending';

-- name: list
SELECT r.id, r.kind, d.name AS dataset, r.status, r.holder, r.created_at, r.started_at,
       r.finished_at, r.error,
       (SELECT count(*) FROM predictions p WHERE p.run_id = r.id AND p.status = 'done') AS predicted,
       (SELECT count(*) FROM predictions p WHERE p.run_id = r.id AND p.status = 'pending') AS pending,
       (SELECT count(*) FROM predictions p WHERE p.run_id = r.id AND p.status = 'failed') AS failed,
       (SELECT count(*) FROM selections s WHERE s.run_id = r.id) AS selected
FROM runs r JOIN datasets d ON d.id = r.dataset_id
WHERE %(status)s::text IS NULL OR r.status = %(status)s::text
ORDER BY r.id;

-- name: ping
SELECT 1;
