-- Queries of allabel/estimate.py (cost estimates; nothing here writes).

-- name: calibration
-- Recent paid calls of one backend and model: prompt tokens against prompt characters and
-- messages (to estimate tokens of new prompts), answer tokens and latency.
SELECT c.prompt_tokens, c.completion_tokens, c.latency_ms,
       (SELECT coalesce(sum(length(m ->> 'content')), 0)
        FROM jsonb_array_elements(c.request -> 'messages') m) AS chars,
       jsonb_array_length(c.request -> 'messages') AS messages
FROM llm_calls c
WHERE c.backend = %(backend)s AND c.model = %(model)s AND c.prompt_tokens IS NOT NULL
  AND c.via = 'sync'
ORDER BY c.id DESC
LIMIT 500;

-- name: cached_keys
SELECT cache_key FROM llm_calls WHERE cache_key = ANY (%(keys)s::text[]);

-- name: find_prediction_run
SELECT id FROM runs WHERE kind = 'prediction' AND config_key = %(config_key)s;

-- name: pending_or_new
-- The sentences a prediction run would ask about: its pending ones, then split sentences it has
-- no prediction for (at most %(room)s).
(SELECT p.sentence_id FROM predictions p
 WHERE p.run_id = %(run_id)s AND p.status = 'pending' ORDER BY p.id)
UNION ALL
(SELECT s.id FROM sentences s
 WHERE s.dataset_id = %(dataset_id)s AND s.split = %(split)s
   AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = %(run_id)s AND p.sentence_id = s.id)
 ORDER BY s.position LIMIT %(room)s);

-- name: pending_or_new_worklist
-- The same with --new: only sentences no prediction run has finished (predict_worklist, sql/016).
(SELECT p.sentence_id FROM predictions p
 WHERE p.run_id = %(run_id)s AND p.status = 'pending' ORDER BY p.id)
UNION ALL
(SELECT s.id FROM predict_worklist w JOIN sentences s ON s.id = w.sentence_id
 WHERE w.dataset_id = %(dataset_id)s AND w.split = %(split)s
   AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = %(run_id)s AND p.sentence_id = s.id)
 ORDER BY s.position LIMIT %(room)s);

-- name: count_run_predictions
SELECT count(*) AS n FROM predictions WHERE run_id = %(run_id)s;

-- name: predicted
SELECT sentence_id FROM predictions WHERE run_id = %(run_id)s AND status = 'done';

-- name: texts
SELECT id, text FROM sentences WHERE id = ANY (%(ids)s::bigint[]);
