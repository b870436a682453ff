-- LLM calls (the cache and the accounting), per-run request log, and predictions.
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
    created_at         timestamptz NOT NULL DEFAULT now()
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
