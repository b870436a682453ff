-- Runs (selection, prediction, ...), selected sentences, and the annotations made for a run.
SET search_path = allabel, public;

CREATE TABLE runs (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('selection', 'prediction')),
    dataset_id   int  NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    config_key   text,          -- hash of the parameters that define the run's output
    params       jsonb NOT NULL DEFAULT '{}'::jsonb,
    status       text NOT NULL DEFAULT 'created'
                 CHECK (status IN ('created', 'running', 'awaiting_annotation', 'done', 'failed')),
    stats        jsonb NOT NULL DEFAULT '{}'::jsonb,   -- timings, counts, LLM calls/tokens
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE UNIQUE INDEX runs_config_key ON runs (kind, config_key) WHERE config_key IS NOT NULL;
COMMENT ON TABLE runs IS 'A selection or prediction job with all its parameters, status and timings.';

CREATE TABLE selections (
    run_id       bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    sentence_id  bigint NOT NULL REFERENCES sentences(id) ON DELETE CASCADE,
    stage        text   NOT NULL CHECK (stage IN ('diversity', 'similarity', 'uncertainty', 'random', 'full')),
    rank         int    NOT NULL,           -- 1-based order of selection within the run
    score        double precision,          -- the score that chose it (stage-specific)
    selected_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, sentence_id),
    UNIQUE (run_id, rank)
);
COMMENT ON TABLE selections IS 'Sentences chosen for annotation by a selection run, in order.';

CREATE TABLE annotations (
    run_id       bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    sentence_id  bigint NOT NULL REFERENCES sentences(id) ON DELETE CASCADE,
    annotator    text   NOT NULL,
    origin       text   NOT NULL CHECK (origin IN ('human', 'oracle')),
    annotated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, sentence_id),
    FOREIGN KEY (run_id, sentence_id) REFERENCES selections (run_id, sentence_id) ON DELETE CASCADE
);
COMMENT ON TABLE annotations IS 'A selected sentence is annotated (its entities: entities with source=human and this run_id; possibly none).';

CREATE VIEW annotation_queue AS
SELECT r.id AS run_id, d.name AS dataset, s.id AS sentence_id, s.split, sel.stage, sel.rank, s.text
FROM selections sel
JOIN runs r ON r.id = sel.run_id
JOIN sentences s ON s.id = sel.sentence_id
JOIN datasets d ON d.id = r.dataset_id
LEFT JOIN annotations a ON a.run_id = sel.run_id AND a.sentence_id = sel.sentence_id
WHERE a.sentence_id IS NULL;
COMMENT ON VIEW annotation_queue IS 'Selected sentences still waiting for a person.';
