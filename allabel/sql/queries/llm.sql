-- Queries of allabel/llm/cache.py and `allabel usage`.

-- name: lookup
SELECT id, answer, tokens, token_logprobs, prompt_tokens, completion_tokens, latency_ms
FROM llm_calls WHERE cache_key = %(key)s;

-- name: insert_call
INSERT INTO llm_calls (cache_key, backend, model, request, answer, tokens, token_logprobs,
                       prompt_tokens, completion_tokens, latency_ms)
VALUES (%(key)s, %(backend)s, %(model)s, %(request)s, %(answer)s, %(tokens)s, %(logprobs)s,
        %(prompt_tokens)s, %(completion_tokens)s, %(latency_ms)s)
ON CONFLICT (cache_key) DO NOTHING
RETURNING id;

-- name: try_claim
-- One request per distinct prompt in flight: the asker holds this session lock until the answer
-- is stored (or its session ends).
SELECT pg_try_advisory_lock(hashtextextended('allabel.llm:' || %(key)s, 0)) AS claimed;

-- name: release_claim
SELECT pg_advisory_unlock(hashtextextended('allabel.llm:' || %(key)s, 0));

-- name: log_request
INSERT INTO run_llm_requests (run_id, call_id, cache_hit, retries)
VALUES (%(run_id)s, %(call_id)s, %(cache_hit)s, %(retries)s);

-- name: usage
SELECT r.id AS run, r.kind, d.name AS dataset, r.status,
       count(q.id) AS requests,
       count(q.id) FILTER (WHERE q.cache_hit) AS cache_hits,
       count(q.id) FILTER (WHERE NOT q.cache_hit) AS calls,
       coalesce(sum(q.retries), 0) AS retries,
       coalesce(sum(c.prompt_tokens) FILTER (WHERE NOT q.cache_hit), 0) AS prompt_tokens,
       coalesce(sum(c.completion_tokens) FILTER (WHERE NOT q.cache_hit), 0) AS completion_tokens,
       coalesce(sum(c.latency_ms) FILTER (WHERE NOT q.cache_hit), 0) / 1000.0 AS llm_seconds,
       (r.stats ->> 'llm_wall_seconds')::double precision AS wall_seconds,
       (SELECT avg((p.perplexity IS NOT NULL)::int)::double precision FROM predictions p
        WHERE p.run_id = r.id AND p.status = 'done') AS perplexity_known_share
FROM runs r
JOIN datasets d ON d.id = r.dataset_id
LEFT JOIN run_llm_requests q ON q.run_id = r.id
LEFT JOIN llm_calls c ON c.id = q.call_id
WHERE %(run_id)s::bigint IS NULL OR r.id = %(run_id)s::bigint
GROUP BY r.id, r.kind, d.name, r.status, r.stats
ORDER BY r.id;

-- name: endpoint_get
SELECT dropped_fields, logprobs FROM llm_endpoints
WHERE base_url = %(base_url)s AND model = %(model)s;

-- name: endpoint_save
INSERT INTO llm_endpoints (base_url, model, dropped_fields, logprobs)
VALUES (%(base_url)s, %(model)s, coalesce(%(dropped)s::text[], '{}'), %(logprobs)s)
ON CONFLICT (base_url, model) DO UPDATE
SET dropped_fields = coalesce(%(dropped)s::text[], llm_endpoints.dropped_fields),
    logprobs = coalesce(%(logprobs)s, llm_endpoints.logprobs),
    updated_at = now();

-- name: usage_by_model
-- Tokens of the calls a run paid for (not cache hits), per model and way of calling, for money.
SELECT q.run_id, c.backend, c.model, c.via,
       coalesce(sum(c.prompt_tokens), 0), coalesce(sum(c.completion_tokens), 0)
FROM run_llm_requests q JOIN llm_calls c ON c.id = q.call_id
WHERE NOT q.cache_hit AND (%(run_id)s::bigint IS NULL OR q.run_id = %(run_id)s::bigint)
GROUP BY q.run_id, c.backend, c.model, c.via;

-- name: refresh_call
-- A cached answer without log-probs, asked again now that the endpoint gives them.
UPDATE llm_calls SET answer = %(answer)s, tokens = %(tokens)s, token_logprobs = %(logprobs)s,
    prompt_tokens = %(prompt_tokens)s, completion_tokens = %(completion_tokens)s,
    latency_ms = %(latency_ms)s, created_at = now()
WHERE cache_key = %(key)s AND token_logprobs IS NULL
RETURNING id;
