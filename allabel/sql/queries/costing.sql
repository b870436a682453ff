-- Queries of allabel/llm/costing.py (cost estimates; nothing here writes).

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
