-- llm: LLM calls (the cache), per-run requests, predictions, endpoints, Batch API jobs.
-- The current schema, in one place: `allabel init` creates a new database from these files
-- (allabel/sql/schema/, in name order); an existing one is upgraded by the migration deltas
-- (allabel/sql/migrations/). tests/test_schema.py checks that both give the same database.
SET search_path = allabel, public;

CREATE TABLE llm_calls (
    id                 bigserial PRIMARY KEY,
    cache_key          text NOT NULL UNIQUE,      -- sha256 of backend, model, messages, decoding params
    backend            text NOT NULL,
    model              text NOT NULL,
    request            jsonb NOT NULL,            -- messages + decoding parameters
    answer             text,
    tokens             text[],
    token_logprobs     double precision[],        -- NULL when the backend gave none
    prompt_tokens      int,
    completion_tokens  int,
    latency_ms         double precision,
    created_at         timestamptz NOT NULL DEFAULT now(),
    via                text NOT NULL DEFAULT 'sync' CHECK (via IN ('sync', 'batch'))
);

COMMENT ON TABLE llm_calls IS 'Every distinct LLM request made, with its answer: an identical request is served from here.';

CREATE TABLE run_llm_requests (
    id          bigserial PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    call_id     bigint NOT NULL REFERENCES llm_calls(id) ON DELETE CASCADE,
    cache_hit   boolean NOT NULL,
    retries     int NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX run_llm_requests_run ON run_llm_requests (run_id);

COMMENT ON TABLE run_llm_requests IS 'Each LLM request a run made, and whether the cache served it.';

CREATE TABLE predictions (
    id            bigserial PRIMARY KEY,
    run_id        bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    sentence_id   bigint NOT NULL REFERENCES sentences(id) ON DELETE CASCADE,
    status        text   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    call_id       bigint REFERENCES llm_calls(id) ON DELETE SET NULL,
    parse_status  text CHECK (parse_status IN ('ok', 'partial', 'unparseable')),
    perplexity    double precision,      -- exp(-mean token log-prob); NULL = unknown (no log-probs)
    n_entities    int,
    demo_ids      bigint[],              -- the demonstrations shown in the prompt
    error         text,
    attempts      int NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, sentence_id)
);

CREATE INDEX predictions_pending ON predictions (run_id, id) WHERE status = 'pending';

COMMENT ON TABLE predictions IS 'One row per (run, sentence): the queue (pending) and the result (done) of LLM recognition.';

ALTER TABLE entities
    ADD CONSTRAINT entities_run_fk FOREIGN KEY (run_id) REFERENCES runs(id) ON DELETE CASCADE,
    ADD CONSTRAINT entities_prediction_fk FOREIGN KEY (prediction_id) REFERENCES predictions(id) ON DELETE CASCADE;

CREATE TABLE llm_endpoints (
    base_url        text NOT NULL,
    model           text NOT NULL,
    dropped_fields  text[] NOT NULL DEFAULT '{}',  -- optional request fields the server rejected
    logprobs        boolean,                        -- did the last answer carry log-probs?
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (base_url, model)
);

COMMENT ON TABLE llm_endpoints IS 'Per endpoint and model: request fields it rejected (never sent again) and whether its answers carry log-probs.';

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
