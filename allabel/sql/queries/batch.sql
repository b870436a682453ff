-- Queries of allabel/llm/batch.py (OpenAI Batch API for prediction runs).

-- name: open_batches
SELECT id, remote_id, status FROM llm_batches
WHERE run_id = %(run_id)s AND status IN ('created', 'submitted') ORDER BY id;

-- name: unbatched_pending
-- Pending predictions of the run that no open batch holds.
SELECT p.id, p.sentence_id, s.text FROM predictions p JOIN sentences s ON s.id = p.sentence_id
WHERE p.run_id = %(run_id)s AND p.status = 'pending'
  AND NOT EXISTS (SELECT 1 FROM llm_batch_items i JOIN llm_batches b ON b.id = i.batch_id
                  WHERE b.run_id = p.run_id AND b.status IN ('created', 'submitted')
                    AND i.custom_id = p.id::text)
ORDER BY p.id;

-- name: create_batch
INSERT INTO llm_batches (run_id, base_url, n_requests) VALUES (%(run_id)s, %(base_url)s, %(n)s)
RETURNING id;

-- name: add_item
INSERT INTO llm_batch_items (batch_id, custom_id, cache_key, request, demo_ids)
VALUES (%(batch_id)s, %(custom_id)s, %(cache_key)s, %(request)s, %(demo_ids)s);

-- name: items
SELECT i.custom_id, i.cache_key, i.request, i.demo_ids, p.id AS prediction_id, p.sentence_id, s.text,
       p.status AS prediction_status
FROM llm_batch_items i
JOIN predictions p ON p.id = i.custom_id::bigint
JOIN sentences s ON s.id = p.sentence_id
WHERE i.batch_id = %(batch_id)s;

-- name: submitted
UPDATE llm_batches SET remote_id = %(remote_id)s, input_file_id = %(file_id)s, status = 'submitted'
WHERE id = %(batch_id)s;

-- name: collected
UPDATE llm_batches SET status = %(status)s, n_collected = %(n_collected)s, n_failed = %(n_failed)s,
    error = %(error)s, collected_at = now()
WHERE id = %(batch_id)s;

-- name: insert_call
INSERT INTO llm_calls (cache_key, backend, model, request, answer, tokens, token_logprobs,
                       prompt_tokens, completion_tokens, latency_ms, via)
VALUES (%(key)s, %(backend)s, %(model)s, %(request)s, %(answer)s, %(tokens)s, %(logprobs)s,
        %(prompt_tokens)s, %(completion_tokens)s, NULL, 'batch')
ON CONFLICT (cache_key) DO NOTHING
RETURNING id;

-- name: call_by_key
SELECT id FROM llm_calls WHERE cache_key = %(key)s;
