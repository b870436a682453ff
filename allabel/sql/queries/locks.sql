-- Job-level advisory locks of allabel/locks.py (session locks keyed by a hash of the job's name).

-- name: try_lock
SELECT pg_try_advisory_lock(hashtextextended(%(name)s, 0)) AS got;

-- name: unlock
SELECT pg_advisory_unlock(hashtextextended(%(name)s, 0)) AS released;
