-- quality: quality without gold: estimates, calibrations and calibrated mentions.
-- The current schema, in one place: `allabel init` creates a new database from these files
-- (allabel/sql/schema/, in name order); an existing one is upgraded by the migration deltas
-- (allabel/sql/migrations/). tests/test_schema.py checks that both give the same database.
SET search_path = allabel, public;

CREATE INDEX IF NOT EXISTS selections_audit ON selections (sentence_id) WHERE stage = 'audit';

-- One row per (prediction run, source, label, metric): what `allabel quality` estimated.
CREATE TABLE quality_estimates (
    run_id        bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    source        text   NOT NULL CHECK (source IN ('audit', 'cross-validation')),
    label         text   NOT NULL,              -- '*' = micro over all labels
    metric        text   NOT NULL,
    value         double precision,
    low           double precision,             -- 95% bootstrap interval over sentences
    high          double precision,
    sentences     int    NOT NULL,
    gold_mentions int    NOT NULL,
    computed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, source, label, metric)
);

COMMENT ON TABLE quality_estimates IS 'Estimated quality of a prediction run without a gold test split: scored on audit sentences (unbiased for the pool the audit was drawn from) or by cross-validation over the annotated sentences (biased toward what selection picked). Written by allabel quality.';

-- A calibration fitted on the scored entities of a prediction run (audit + cross-validation),
-- applied to every entity of the run.
CREATE TABLE calibrations (
    id          bigserial PRIMARY KEY,
    run_id      bigint NOT NULL UNIQUE REFERENCES runs(id) ON DELETE CASCADE,
    method      text   NOT NULL CHECK (method IN ('platt', 'isotonic')),
    params      jsonb  NOT NULL,               -- platt: a, b of 1/(1+exp(-(a*logit(c)+b))); isotonic: knots
    n_entities  int    NOT NULL,               -- scored entities it was fitted on
    n_correct   int    NOT NULL,
    fitted_at   timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE calibrations IS 'The calibration of a prediction run''s confidences (one per run; refitting replaces it).';

CREATE TABLE entity_calibration (
    entity_id       bigint PRIMARY KEY REFERENCES entities(id) ON DELETE CASCADE,
    calibration_id  bigint NOT NULL REFERENCES calibrations(id) ON DELETE CASCADE,
    probability     double precision NOT NULL CHECK (probability >= 0 AND probability <= 1)
);

CREATE INDEX entity_calibration_calibration ON entity_calibration (calibration_id);

COMMENT ON TABLE entity_calibration IS 'Calibrated probability that an LLM mention is correct (exact span and label), from its run''s calibration.';
