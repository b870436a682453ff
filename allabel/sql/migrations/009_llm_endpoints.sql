-- What each OpenAI-compatible endpoint accepts and answers (remembered between runs), how LLM
-- calls were made (synchronously or through a Batch API), and Batch API jobs.
SET search_path = allabel, public;

CREATE TABLE llm_endpoints (
    base_url        text NOT NULL,
    model           text NOT NULL,
    dropped_fields  text[] NOT NULL DEFAULT '{}',  -- optional request fields the server rejected
    logprobs        boolean,                        -- did the last answer carry log-probs?
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (base_url, model)
);
COMMENT ON TABLE llm_endpoints IS 'Per endpoint and model: request fields it rejected (never sent again) and whether its answers carry log-probs.';

ALTER TABLE llm_calls ADD COLUMN via text NOT NULL DEFAULT 'sync' CHECK (via IN ('sync', 'batch'));
COMMENT ON COLUMN llm_calls.via IS 'sync: one request; batch: collected from a Batch API job (priced with llm_batch_discount).';

CREATE TABLE llm_batches (
    id             bigserial PRIMARY KEY,
    run_id         bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    base_url       text NOT NULL,
    remote_id      text,                 -- the endpoint's batch id (NULL until submitted)
    input_file_id  text,
    status         text NOT NULL DEFAULT 'created'
                   CHECK (status IN ('created', 'submitted', 'collected', 'failed')),
    n_requests     int NOT NULL DEFAULT 0,
    n_collected    int NOT NULL DEFAULT 0,
    n_failed       int NOT NULL DEFAULT 0,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    collected_at   timestamptz
);
CREATE INDEX llm_batches_run ON llm_batches (run_id);
COMMENT ON TABLE llm_batches IS 'OpenAI Batch API jobs of prediction runs: submitted now, collected by a later run.';

CREATE TABLE llm_batch_items (
    batch_id     bigint NOT NULL REFERENCES llm_batches(id) ON DELETE CASCADE,
    custom_id    text NOT NULL,           -- the prediction id
    cache_key    text NOT NULL,
    request      jsonb NOT NULL,          -- messages + decoding parameters (as llm_calls.request)
    demo_ids     bigint[],                -- the demonstrations shown in the prompt
    PRIMARY KEY (batch_id, custom_id)
);
COMMENT ON TABLE llm_batch_items IS 'Which prediction (and cache key) each line of a submitted batch input file stands for.';

-- the share of stage-3 candidates with a known perplexity (runs.stats.perplexity_known_share)
CREATE OR REPLACE VIEW bi.selection_summary AS
SELECT r.id AS run, d.name AS dataset, r.params ->> 'strategy' AS strategy,
       r.params ->> 'budget' AS budget, r.status, r.created_at, r.finished_at,
       count(sel.sentence_id) AS selected,
       count(sel.sentence_id) FILTER (WHERE sel.stage = 'diversity') AS diversity,
       count(sel.sentence_id) FILTER (WHERE sel.stage = 'similarity') AS similarity,
       count(sel.sentence_id) FILTER (WHERE sel.stage = 'uncertainty') AS uncertainty,
       count(a.sentence_id) AS annotated,
       (r.stats ->> 'llm_calls')::int AS llm_calls,
       (r.stats ->> 'perplexity_known_share')::double precision AS perplexity_known_share
FROM allabel.runs r
JOIN allabel.datasets d ON d.id = r.dataset_id
LEFT JOIN allabel.selections sel ON sel.run_id = r.id
LEFT JOIN allabel.annotations a ON a.run_id = sel.run_id AND a.sentence_id = sel.sentence_id
WHERE r.kind = 'selection'
GROUP BY r.id, d.name;
COMMENT ON VIEW bi.selection_summary IS 'Selection runs: strategy, budget, status, picks per stage, annotated so far, LLM calls, share of stage-3 candidates with a known perplexity.';
