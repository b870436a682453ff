-- Queries of allabel/predict.py.

-- name: labels
SELECT name, description FROM labels WHERE dataset_id = %(dataset_id)s ORDER BY name;

-- name: demos_from_split
SELECT s.id, s.text,
       coalesce(array_agg(e.start_char ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}'),
       coalesce(array_agg(e.end_char ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}'),
       coalesce(array_agg(e.label ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}'),
       coalesce(array_agg(e.text ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}')
FROM sentences s
LEFT JOIN entities e ON e.sentence_id = s.id AND e.source = 'gold'
WHERE s.dataset_id = %(dataset_id)s AND s.split = %(split)s
GROUP BY s.id ORDER BY s.id;

-- name: demos_from_run
-- The annotated sentences of a selection run with their human (or oracle) entities.
SELECT s.id, s.text,
       coalesce(array_agg(e.start_char ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}'),
       coalesce(array_agg(e.end_char ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}'),
       coalesce(array_agg(e.label ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}'),
       coalesce(array_agg(e.text ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}')
FROM annotations a
JOIN sentences s ON s.id = a.sentence_id
LEFT JOIN entities e ON e.sentence_id = s.id AND e.source = 'human' AND e.run_id = a.run_id
WHERE a.run_id = %(run_id)s
GROUP BY s.id ORDER BY s.id;

-- name: run_dataset
SELECT dataset_id, kind, status FROM runs WHERE id = %(run_id)s;

-- name: split_sentences_without_prediction
SELECT s.id FROM sentences s
WHERE s.dataset_id = %(dataset_id)s AND s.split = %(split)s
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
-- A batch of pending predictions for this worker; rows other workers hold are skipped. The
-- results are written in the same transaction, so a crash just leaves them pending.
SELECT p.id, p.sentence_id, s.text
FROM predictions p JOIN sentences s ON s.id = p.sentence_id
WHERE p.run_id = %(run_id)s AND p.status = 'pending'
ORDER BY p.id
LIMIT %(limit)s
FOR UPDATE OF p SKIP LOCKED;

-- name: finish
UPDATE predictions
SET status = 'done', call_id = %(call_id)s, parse_status = %(parse_status)s,
    perplexity = %(perplexity)s, n_entities = %(n_entities)s, demo_ids = %(demo_ids)s,
    error = %(error)s, attempts = attempts + 1, updated_at = now()
WHERE id = %(id)s;

-- name: fail
UPDATE predictions SET attempts = attempts + 1, error = %(error)s, updated_at = now()
WHERE id = %(id)s;

-- name: insert_entity
INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id,
                      prediction_id, model, confidence)
VALUES (%(sentence_id)s, %(start)s, %(end)s, %(label)s, %(text)s, 'llm', %(run_id)s,
        %(prediction_id)s, %(model)s, %(confidence)s);

-- name: run_summary
SELECT count(*) FILTER (WHERE status = 'done'),
       count(*) FILTER (WHERE status = 'pending'),
       count(*) FILTER (WHERE parse_status = 'ok'),
       count(*) FILTER (WHERE parse_status = 'partial'),
       count(*) FILTER (WHERE parse_status = 'unparseable'),
       coalesce(sum(n_entities), 0),
       avg(perplexity)
FROM predictions WHERE run_id = %(run_id)s;

-- name: finish_if_complete
-- The batch API has no live holder while a provider batch runs: the run turns done once nothing
-- of it is pending, and keeps its state otherwise.
UPDATE runs r SET status = 'done', finished_at = now(), error = NULL
WHERE r.id = %(run_id)s
  AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = r.id AND p.status = 'pending');
