-- Queries of allabel/predict/ (demonstrations, the batch step, the jobs).

-- name: labels
SELECT name, description FROM labels WHERE dataset_id = %(dataset_id)s ORDER BY name;

-- name: gold_demos
-- Gold entities in the shape of a demonstration pool: a split's sentences (%(split)s) and/or
-- given sentences (%(ids)s); NULL means "any".
SELECT s.id, s.text,
       coalesce(array_agg(e.start_char ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS starts,
       coalesce(array_agg(e.end_char ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS ends,
       coalesce(array_agg(e.label ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS labels,
       coalesce(array_agg(e.text ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS texts
FROM sentences s
LEFT JOIN entities e ON e.sentence_id = s.id AND e.source = 'gold'
WHERE s.dataset_id = %(dataset_id)s
  AND (%(split)s::text IS NULL OR s.split = %(split)s::text)
  AND (%(ids)s::bigint[] IS NULL OR s.id = ANY (%(ids)s::bigint[]))
GROUP BY s.id ORDER BY s.id;

-- name: demos_from_run
-- The annotated sentences of a selection run with their human (or oracle) entities.
SELECT s.id, s.text,
       coalesce(array_agg(e.start_char ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS starts,
       coalesce(array_agg(e.end_char ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS ends,
       coalesce(array_agg(e.label ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS labels,
       coalesce(array_agg(e.text ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS texts
FROM annotations a
JOIN sentences s ON s.id = a.sentence_id
LEFT JOIN entities e ON e.sentence_id = s.id AND e.source = 'human' AND e.run_id = a.run_id
WHERE a.run_id = %(run_id)s
GROUP BY s.id ORDER BY s.id;

-- name: split_exists
SELECT 1 FROM sentences WHERE dataset_id = %(dataset_id)s AND split = %(split)s LIMIT 1;

-- name: run_dataset
SELECT dataset_id, kind, status FROM runs WHERE id = %(run_id)s;

-- name: split_sentences_without_prediction
-- The split's sentences this run has not seen (one pass over the split).
SELECT s.id FROM sentences s
WHERE s.dataset_id = %(dataset_id)s AND s.split = %(split)s
  AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = %(run_id)s AND p.sentence_id = s.id)
ORDER BY s.position
LIMIT %(limit)s;

-- name: new_sentences_without_prediction
-- predict --new: the split's sentences no prediction run has finished (the work list, sql/016:
-- read in O(unfinished), not O(split)) that this run has not seen either.
SELECT s.id FROM predict_worklist w JOIN sentences s ON s.id = w.sentence_id
WHERE w.dataset_id = %(dataset_id)s AND w.split = %(split)s
  AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = %(run_id)s AND p.sentence_id = s.id)
ORDER BY s.position
LIMIT %(limit)s;

-- name: count_run_predictions
SELECT count(*) FROM predictions WHERE run_id = %(run_id)s;

-- name: enqueue
INSERT INTO predictions (run_id, sentence_id)
SELECT %(run_id)s, unnest(%(ids)s::bigint[])
ON CONFLICT (run_id, sentence_id) DO NOTHING;

-- name: count_pending
SELECT count(*) FROM predictions WHERE run_id = %(run_id)s AND status = 'pending';

-- name: claim
-- A batch of pending predictions for this worker. The claim is a session advisory lock
-- (17, id mod 2^31) per prediction, taken on the worker's connection, so that this statement
-- commits at once and no transaction stays open while the LLM answers; a worker that dies or
-- loses its connection loses its claims with it. Rows another worker has claimed are skipped.
WITH free AS (
    SELECT p.id FROM predictions p
    WHERE p.run_id = %(run_id)s AND p.status = 'pending'
      AND NOT EXISTS (
          SELECT 1 FROM pg_locks l
          WHERE l.locktype = 'advisory' AND l.classid = 17 AND l.objsubid = 2 AND l.granted
            AND l.objid = (p.id %% 2147483648)::oid
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
    ORDER BY p.id
    LIMIT %(limit)s
    FOR UPDATE OF p SKIP LOCKED)
SELECT p.id, p.sentence_id, s.text
FROM free JOIN predictions p ON p.id = free.id JOIN sentences s ON s.id = p.sentence_id
WHERE pg_try_advisory_lock(17, (free.id %% 2147483648)::int)
ORDER BY p.id;

-- name: release
SELECT count(pg_advisory_unlock(17, (id %% 2147483648)::int)) FROM unnest(%(ids)s::bigint[]) id;

-- name: finish
-- Only a pending prediction is finished: a claim lost with a connection may have been taken
-- and finished by another worker meanwhile, and is then not stored twice.
UPDATE predictions
SET status = 'done', call_id = %(call_id)s, parse_status = %(parse_status)s,
    perplexity = %(perplexity)s, n_entities = %(n_entities)s, demo_ids = %(demo_ids)s,
    error = %(error)s, attempts = attempts + 1, updated_at = now()
WHERE id = %(id)s AND status = 'pending'
RETURNING id;

-- name: fail
-- A failed attempt; after %(max_attempts)s of them (llm_max_attempts) the prediction is `failed`
-- with its last error and no command asks it again (until predict --retry-failed).
UPDATE predictions
SET attempts = attempts + 1, error = %(error)s, updated_at = now(),
    status = CASE WHEN attempts + 1 >= %(max_attempts)s THEN 'failed' ELSE 'pending' END
WHERE id = %(id)s AND status = 'pending'
RETURNING status;

-- name: retry_failed
UPDATE predictions SET status = 'pending', attempts = 0, updated_at = now()
WHERE run_id = %(run_id)s AND status = 'failed';

-- name: failures
-- Failed predictions of a run and the most recent error among them.
SELECT count(*) AS n,
       (SELECT error FROM predictions WHERE run_id = %(run_id)s AND status = 'failed'
        ORDER BY updated_at DESC, id DESC LIMIT 1) AS last_error
FROM predictions WHERE run_id = %(run_id)s AND status = 'failed';

-- name: insert_entity
INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id,
                      prediction_id, model, confidence)
VALUES (%(sentence_id)s, %(start)s, %(end)s, %(label)s, %(text)s, 'llm', %(run_id)s,
        %(prediction_id)s, %(model)s, %(confidence)s);

-- name: run_summary
SELECT count(*) FILTER (WHERE status = 'done') AS done,
       count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE parse_status = 'ok') AS ok,
       count(*) FILTER (WHERE parse_status = 'partial') AS partial,
       count(*) FILTER (WHERE parse_status = 'unparseable') AS unparseable,
       coalesce(sum(n_entities), 0) AS entities,
       avg(perplexity) AS mean_perplexity
FROM predictions WHERE run_id = %(run_id)s;

-- name: finish_if_complete
-- The batch API has no live holder while a provider batch runs: once nothing of the run is
-- pending it turns done — or failed, when predictions failed llm_max_attempts times — and it
-- keeps its state otherwise.
UPDATE runs r
SET status = CASE WHEN f.n > 0 THEN 'failed' ELSE 'done' END, finished_at = now(),
    error = CASE WHEN f.n > 0 THEN f.n || ' prediction(s) failed for good (predict --retry-failed '
                                     'asks them again)' END
FROM (SELECT count(*) AS n FROM predictions WHERE run_id = %(run_id)s AND status = 'failed') f
WHERE r.id = %(run_id)s
  AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = r.id AND p.status = 'pending');
