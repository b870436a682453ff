-- Quality without gold (docs/quality.md): audit and review picks, quality estimates, calibrated
-- confidences, and the BI views bi.quality, bi.current_mentions (and calibrated_confidence in
-- bi.latest_llm_mentions).
SET search_path = allabel, public;

-- An audit pick (a uniform random sample a person annotates to measure the labeller; never a
-- demonstration) and a review pick (an LLM-labelled sentence a person should check first).
ALTER TABLE selections DROP CONSTRAINT IF EXISTS selections_stage_check;
ALTER TABLE selections ADD CONSTRAINT selections_stage_check
    CHECK (stage IN ('diversity', 'similarity', 'uncertainty', 'random', 'full', 'audit', 'review'));
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

CREATE VIEW bi.quality AS
SELECT q.run_id AS run, d.name AS dataset, r.params ->> 'split' AS split,
       r.params ->> 'model' AS model, q.source AS estimate_source, q.label, q.metric,
       q.value, q.low, q.high, q.sentences, q.gold_mentions, q.computed_at
FROM allabel.quality_estimates q
JOIN allabel.runs r ON r.id = q.run_id
JOIN allabel.datasets d ON d.id = r.dataset_id;
COMMENT ON VIEW bi.quality IS 'Estimated quality of LLM prediction runs without gold (allabel quality): audit and cross-validation figures side by side, never mixed, each with a 95% interval and the sentences and gold mentions behind it.';
COMMENT ON COLUMN bi.quality.run IS 'Prediction run id (joins bi.prediction_runs.run).';
COMMENT ON COLUMN bi.quality.dataset IS 'Dataset (corpus) name.';
COMMENT ON COLUMN bi.quality.split IS 'Split the run predicted.';
COMMENT ON COLUMN bi.quality.model IS 'LLM model name.';
COMMENT ON COLUMN bi.quality.estimate_source IS 'audit (the run''s answers on a uniform random sample a person annotated: unbiased for the pool it was drawn from) or cross-validation (the annotated sentences, each predicted from the others: biased toward what selection picked).';
COMMENT ON COLUMN bi.quality.label IS 'Entity type, or * for the micro average over all labels (confidence metrics: *).';
COMMENT ON COLUMN bi.quality.metric IS 'precision, recall, f1 (exact span and label), partial_precision, partial_recall, partial_f1 (overlap of the same label); auroc, auroc_calibrated (does confidence separate correct from wrong mentions), ece, ece_calibrated (expected calibration error, 10 bins); precision_above_T and mentions_above_T (T = the --threshold, e.g. precision_above_0.8: share correct of the scored mentions whose calibrated probability is at least T; mentions_above_0.8: the run''s mentions that pass it).';
COMMENT ON COLUMN bi.quality.value IS 'The estimate on all the sentences behind it.';
COMMENT ON COLUMN bi.quality.low IS 'Lower end of the 95% bootstrap interval (sentences resampled); empty where none is computed.';
COMMENT ON COLUMN bi.quality.high IS 'Upper end of the 95% bootstrap interval.';
COMMENT ON COLUMN bi.quality.sentences IS 'Annotated sentences the estimate is computed on.';
COMMENT ON COLUMN bi.quality.gold_mentions IS 'Human-annotated mentions (of this label) in those sentences; below ~30 the interval is too wide to act on.';
COMMENT ON COLUMN bi.quality.computed_at IS 'When allabel quality computed it.';

-- The latest LLM run's mentions, now with their calibrated probability (a column added at the end).
CREATE OR REPLACE VIEW bi.latest_llm_mentions AS
SELECT m.*, c.probability AS calibrated_confidence
FROM bi.entity_mentions m
JOIN bi.prediction_runs p ON p.run = m.run AND p.is_latest
LEFT JOIN allabel.entity_calibration c ON c.entity_id = m.entity_id
WHERE m.source = 'llm';
COMMENT ON COLUMN bi.latest_llm_mentions.calibrated_confidence IS 'Calibrated probability that the mention is correct (exact span and label), fitted by allabel quality on audit and cross-validation labels; empty before a calibration.';

-- What a sentence currently says: a person's latest annotation where there is one (review
-- corrections, audits, selections), else the latest LLM run's mentions. History stays in
-- bi.entity_mentions.
CREATE VIEW bi.current_mentions AS
WITH latest_annotation AS (
    SELECT DISTINCT ON (a.sentence_id) a.sentence_id, a.run_id
    FROM allabel.annotations a
    ORDER BY a.sentence_id, a.annotated_at DESC, a.run_id DESC
)
SELECT m.*, NULL::double precision AS calibrated_confidence
FROM bi.entity_mentions m
JOIN latest_annotation la ON la.sentence_id = m.sentence_id AND la.run_id = m.run
WHERE m.source = 'human'
UNION ALL
SELECT l.*
FROM bi.latest_llm_mentions l
WHERE NOT EXISTS (SELECT 1 FROM allabel.annotations a WHERE a.sentence_id = l.sentence_id);
COMMENT ON VIEW bi.current_mentions IS 'The current mentions of every sentence: the latest human annotation (a review correction supersedes the LLM) where a person annotated it, else the mentions of the latest LLM run of its dataset and split. Every earlier mention stays in bi.entity_mentions.';
COMMENT ON COLUMN bi.current_mentions.entity_id IS 'Id of the mention (allabel.entities.id); stable.';
COMMENT ON COLUMN bi.current_mentions.dataset IS 'Dataset (corpus) name.';
COMMENT ON COLUMN bi.current_mentions.split IS 'Split of the sentence.';
COMMENT ON COLUMN bi.current_mentions.document IS 'Document id of the sentence, when the input had one.';
COMMENT ON COLUMN bi.current_mentions.sentence_id IS 'Id of the sentence; joins bi.sentences.sentence_id.';
COMMENT ON COLUMN bi.current_mentions.sentence_position IS '0-based order of the sentence within its dataset and split.';
COMMENT ON COLUMN bi.current_mentions.sentence_text IS 'Full text of the sentence.';
COMMENT ON COLUMN bi.current_mentions.start_char IS 'Start of the mention: 0-based character offset into sentence_text (inclusive).';
COMMENT ON COLUMN bi.current_mentions.end_char IS 'End of the mention: character offset into sentence_text (exclusive).';
COMMENT ON COLUMN bi.current_mentions.entity_text IS 'The mention as it appears in the sentence.';
COMMENT ON COLUMN bi.current_mentions.label IS 'Entity type, one of the dataset''s labels.';
COMMENT ON COLUMN bi.current_mentions.source IS 'human (a person''s latest annotation of the sentence) or llm (the latest LLM run, where no person annotated the sentence).';
COMMENT ON COLUMN bi.current_mentions.model IS 'LLM model name (llm mentions only).';
COMMENT ON COLUMN bi.current_mentions.confidence IS 'Raw LLM confidence in [0, 1] (llm mentions only).';
COMMENT ON COLUMN bi.current_mentions.run IS 'Selection run of the annotation (human) or the prediction run (llm).';
COMMENT ON COLUMN bi.current_mentions.annotator IS 'Who annotated (human mentions only).';
COMMENT ON COLUMN bi.current_mentions.created_at IS 'When the mention was stored.';
COMMENT ON COLUMN bi.current_mentions.calibrated_confidence IS 'Calibrated probability that the LLM mention is correct (llm mentions of a calibrated run only).';

GRANT SELECT ON bi.quality, bi.current_mentions, bi.latest_llm_mentions TO allabel_reader;
