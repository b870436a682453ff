-- bi: the BI surface: documented views in schema bi, bi.bm25() and the reader role.
-- The current schema, in one place: `allabel init` creates a new database from these files
-- (allabel/sql/schema/, in name order); an existing one is upgraded by the migration deltas
-- (allabel/sql/migrations/). tests/test_schema.py checks that both give the same database.

-- The BI surface: stable, documented views in schema "bi", and a read-only role that can read
-- them and nothing else (views run with their owner's rights, so the role needs no access to the
-- allabel tables, the LLM cache included).
CREATE SCHEMA IF NOT EXISTS bi;

CREATE OR REPLACE VIEW bi.label_counts AS
SELECT d.name AS dataset, s.split, e.source, e.run_id AS run, e.label,
       count(*) AS mentions, count(DISTINCT e.sentence_id) AS sentences,
       avg(e.confidence) AS mean_confidence
FROM allabel.entities e
JOIN allabel.sentences s ON s.id = e.sentence_id
JOIN allabel.datasets d ON d.id = s.dataset_id
LEFT JOIN allabel.runs r ON r.id = e.run_id
WHERE e.source <> 'llm' OR r.kind = 'prediction'
GROUP BY d.name, s.split, e.source, e.run_id, e.label;

COMMENT ON VIEW bi.label_counts IS 'Mentions and sentences per dataset, split, source (gold, human, llm), run and label; llm counts only prediction runs (not stage 3''s scratch answers).';

CREATE OR REPLACE VIEW bi.selection_summary AS
SELECT r.id AS run, d.name AS dataset,
       (r.params ->> 'strategy')
         || CASE WHEN (r.params ->> 'length_floor')::double precision = 0.5 THEN '+long' ELSE '' END
         || CASE r.params ->> 'uncertainty_score' WHEN 'total' THEN '+total'
                                                   WHEN 'entities' THEN '+entities' ELSE '' END
         || CASE WHEN coalesce((r.params ->> 'length_floor')::double precision, 0) NOT IN (0, 0.5)
                 THEN ' (length_floor ' || (r.params ->> 'length_floor') || ')' ELSE '' END
         AS strategy,
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

CREATE VIEW bi.evaluation_summary AS
SELECT v.run_id AS run, d.name AS dataset, r.params ->> 'split' AS split,
       r.params ->> 'demos' AS demonstrations, r.params ->> 'model' AS model,
       (r.params ->> 'k')::int AS k, v.label,
       max(v.value) FILTER (WHERE v.metric = 'precision') AS precision,
       max(v.value) FILTER (WHERE v.metric = 'recall') AS recall,
       max(v.value) FILTER (WHERE v.metric = 'f1') AS f1,
       max(v.value) FILTER (WHERE v.metric = 'partial_f1') AS partial_f1,
       max(v.value) FILTER (WHERE v.metric = 'n_gold')::int AS gold_mentions,
       max(v.computed_at) AS computed_at
FROM allabel.evaluations v
JOIN allabel.runs r ON r.id = v.run_id
JOIN allabel.datasets d ON d.id = r.dataset_id
WHERE v.against = 'gold'
GROUP BY v.run_id, d.name, r.params, v.label;

COMMENT ON VIEW bi.evaluation_summary IS 'Scores of prediction runs against gold, one row per run and label (* = micro).';

CREATE OR REPLACE VIEW bi.entity_mentions AS
SELECT e.id           AS entity_id,
       d.name         AS dataset,
       s.split,
       s.doc_id       AS document,
       s.id           AS sentence_id,
       s.position     AS sentence_position,
       s.text         AS sentence_text,
       e.start_char,
       e.end_char,
       e.text         AS entity_text,
       e.label,
       e.source,
       e.model,
       e.confidence,
       e.run_id       AS run,
       e.annotator,
       e.created_at
FROM allabel.entities e
JOIN allabel.sentences s ON s.id = e.sentence_id
JOIN allabel.datasets d ON d.id = s.dataset_id
LEFT JOIN allabel.runs r ON r.id = e.run_id
WHERE e.source <> 'llm' OR r.kind = 'prediction';

COMMENT ON VIEW bi.entity_mentions IS 'One row per entity mention (gold, human annotation or LLM prediction of a prediction run; never the scratch answers a selection''s stage 3 ranks by) with its sentence, span, label, source, model, confidence and run.';

CREATE OR REPLACE VIEW bi.sentences AS
SELECT s.id        AS sentence_id,
       d.name      AS dataset,
       s.split,
       s.doc_id    AS document,
       s.position  AS sentence_position,
       s.text      AS sentence_text,
       (SELECT count(*) FROM allabel.entities e
        WHERE e.sentence_id = s.id AND e.source = 'gold') AS gold_mentions,
       EXISTS (SELECT 1 FROM allabel.annotations a WHERE a.sentence_id = s.id) AS annotated
FROM allabel.sentences s
JOIN allabel.datasets d ON d.id = s.dataset_id;

COMMENT ON VIEW bi.sentences IS 'One row per sentence of every dataset, with its text, gold mention count and whether a person (or the oracle) annotated it.';

-- The latest prediction run of each (dataset, split): the one most recently finished (or, while
-- none has finished, started/created), among runs with at least one finished prediction.
CREATE OR REPLACE VIEW bi.prediction_runs AS
WITH r AS (
    SELECT r.id, d.name AS dataset, r.params ->> 'split' AS split, r.params ->> 'model' AS model,
           r.params ->> 'demos' AS demonstrations, (r.params ->> 'k')::int AS k, r.status,
           r.created_at, r.finished_at,
           (SELECT count(*) FROM allabel.predictions p WHERE p.run_id = r.id AND p.status = 'done')
               AS sentences_predicted,
           (SELECT count(*) FROM allabel.entities e WHERE e.run_id = r.id AND e.source = 'llm')
               AS mentions,
           coalesce(r.finished_at, r.started_at, r.created_at) AS last_activity
    FROM allabel.runs r
    JOIN allabel.datasets d ON d.id = r.dataset_id
    WHERE r.kind = 'prediction'
)
SELECT r.id AS run, r.dataset, r.split, r.model, r.demonstrations, r.k, r.status, r.created_at,
       r.finished_at, r.sentences_predicted, r.mentions,
       (r.sentences_predicted > 0 AND r.id = (
            SELECT r2.id FROM r r2
            WHERE r2.dataset = r.dataset AND r2.split IS NOT DISTINCT FROM r.split
              AND r2.sentences_predicted > 0
            ORDER BY r2.last_activity DESC, r2.id DESC LIMIT 1)) AS is_latest
FROM r;

COMMENT ON VIEW bi.prediction_runs IS 'LLM prediction runs: model, demonstrations, k, status, sentences predicted, mentions, and whether the run is the latest of its dataset and split.';

-- The latest LLM run's mentions, now with their calibrated probability (a column added at the end).
CREATE OR REPLACE VIEW bi.latest_llm_mentions AS
SELECT m.*, c.probability AS calibrated_confidence
FROM bi.entity_mentions m
JOIN bi.prediction_runs p ON p.run = m.run AND p.is_latest
LEFT JOIN allabel.entity_calibration c ON c.entity_id = m.entity_id
WHERE m.source = 'llm';

COMMENT ON VIEW bi.latest_llm_mentions IS 'The entity mentions of the latest LLM prediction run of each dataset and split (see bi.prediction_runs.is_latest); same columns as bi.entity_mentions.';

-- BM25 for the reader: SECURITY DEFINER with a fixed search_path, so the role needs no rights on
-- schema allabel; it returns only what bi.sentences shows anyway.
CREATE OR REPLACE FUNCTION bi.bm25(p_dataset text, p_query text, p_k int DEFAULT 5)
RETURNS TABLE (sentence_id bigint, score double precision, split text, sentence_text text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = allabel, public, pg_temp AS $$
    SELECT b.sentence_id, b.score, b.split, b.text FROM allabel.bm25(p_dataset, p_query, least(p_k, 1000)) b
$$;

COMMENT ON FUNCTION bi.bm25(text, text, int) IS 'BM25 search for analysts and the reader role: SELECT * FROM bi.bm25(''bc5cdr'', ''cisplatin nephrotoxicity'', 5); k is capped at 1000.';

-- Column comments: BI tools (Metabase, Superset, DBeaver) show them as field descriptions.
COMMENT ON COLUMN bi.entity_mentions.entity_id IS 'Id of the mention (allabel.entities.id); stable.';

COMMENT ON COLUMN bi.entity_mentions.dataset IS 'Dataset (corpus) name.';

COMMENT ON COLUMN bi.entity_mentions.split IS 'Split of the sentence: train, devel, test, or any name given at ingest.';

COMMENT ON COLUMN bi.entity_mentions.document IS 'Document id of the sentence (from -DOCSTART- or doc_id), when the input had one.';

COMMENT ON COLUMN bi.entity_mentions.sentence_id IS 'Id of the sentence; joins bi.sentences.sentence_id.';

COMMENT ON COLUMN bi.entity_mentions.sentence_position IS '0-based order of the sentence within its dataset and split.';

COMMENT ON COLUMN bi.entity_mentions.sentence_text IS 'Full text of the sentence.';

COMMENT ON COLUMN bi.entity_mentions.start_char IS 'Start of the mention: 0-based character offset into sentence_text (inclusive).';

COMMENT ON COLUMN bi.entity_mentions.end_char IS 'End of the mention: character offset into sentence_text (exclusive); entity_text = substring of sentence_text from start_char+1 for end_char-start_char.';

COMMENT ON COLUMN bi.entity_mentions.entity_text IS 'The mention as it appears in the sentence.';

COMMENT ON COLUMN bi.entity_mentions.label IS 'Entity type, one of the dataset''s labels.';

COMMENT ON COLUMN bi.entity_mentions.source IS 'gold (from the corpus), human (annotation of a selection run, person or oracle) or llm (prediction).';

COMMENT ON COLUMN bi.entity_mentions.model IS 'LLM model name (llm mentions only).';

COMMENT ON COLUMN bi.entity_mentions.confidence IS 'LLM confidence in [0, 1] when the backend gave log-probabilities (llm mentions only).';

COMMENT ON COLUMN bi.entity_mentions.run IS 'Run id: the selection run (human) or prediction run (llm); empty for gold.';

COMMENT ON COLUMN bi.entity_mentions.annotator IS 'Who annotated (human mentions only): a name, an e-mail, or oracle.';

COMMENT ON COLUMN bi.entity_mentions.created_at IS 'When the mention was stored.';

COMMENT ON COLUMN bi.sentences.sentence_id IS 'Id of the sentence.';

COMMENT ON COLUMN bi.sentences.dataset IS 'Dataset (corpus) name.';

COMMENT ON COLUMN bi.sentences.split IS 'Split of the sentence: train, devel, test, or any name given at ingest.';

COMMENT ON COLUMN bi.sentences.document IS 'Document id, when the input had one.';

COMMENT ON COLUMN bi.sentences.sentence_position IS '0-based order of the sentence within its dataset and split.';

COMMENT ON COLUMN bi.sentences.sentence_text IS 'Full text of the sentence.';

COMMENT ON COLUMN bi.sentences.gold_mentions IS 'Number of gold mentions in the sentence (0 when the corpus has none or no gold).';

COMMENT ON COLUMN bi.sentences.annotated IS 'True when a selection run has an annotation (person or oracle) for the sentence.';

COMMENT ON COLUMN bi.prediction_runs.run IS 'Prediction run id.';

COMMENT ON COLUMN bi.prediction_runs.dataset IS 'Dataset (corpus) name.';

COMMENT ON COLUMN bi.prediction_runs.split IS 'Split the run predicted.';

COMMENT ON COLUMN bi.prediction_runs.model IS 'LLM model name.';

COMMENT ON COLUMN bi.prediction_runs.demonstrations IS 'Where demonstrations came from: a split name or run:N (an annotated selection run).';

COMMENT ON COLUMN bi.prediction_runs.k IS 'Demonstrations per prompt.';

COMMENT ON COLUMN bi.prediction_runs.status IS 'created, running, done or failed.';

COMMENT ON COLUMN bi.prediction_runs.created_at IS 'When the run was created.';

COMMENT ON COLUMN bi.prediction_runs.finished_at IS 'When the run last finished (empty while running).';

COMMENT ON COLUMN bi.prediction_runs.sentences_predicted IS 'Sentences with a finished prediction.';

COMMENT ON COLUMN bi.prediction_runs.mentions IS 'Entity mentions the LLM recognised in this run.';

COMMENT ON COLUMN bi.prediction_runs.is_latest IS 'True for the latest run of its dataset and split (most recent activity, with at least one finished prediction); bi.latest_llm_mentions shows its mentions.';

COMMENT ON COLUMN bi.latest_llm_mentions.entity_id IS 'Id of the mention (allabel.entities.id); stable.';

COMMENT ON COLUMN bi.latest_llm_mentions.dataset IS 'Dataset (corpus) name.';

COMMENT ON COLUMN bi.latest_llm_mentions.split IS 'Split of the sentence.';

COMMENT ON COLUMN bi.latest_llm_mentions.document IS 'Document id of the sentence, when the input had one.';

COMMENT ON COLUMN bi.latest_llm_mentions.sentence_id IS 'Id of the sentence; joins bi.sentences.sentence_id.';

COMMENT ON COLUMN bi.latest_llm_mentions.sentence_position IS '0-based order of the sentence within its dataset and split.';

COMMENT ON COLUMN bi.latest_llm_mentions.sentence_text IS 'Full text of the sentence.';

COMMENT ON COLUMN bi.latest_llm_mentions.start_char IS 'Start of the mention: 0-based character offset into sentence_text (inclusive).';

COMMENT ON COLUMN bi.latest_llm_mentions.end_char IS 'End of the mention: character offset into sentence_text (exclusive).';

COMMENT ON COLUMN bi.latest_llm_mentions.entity_text IS 'The mention as it appears in the sentence.';

COMMENT ON COLUMN bi.latest_llm_mentions.label IS 'Entity type, one of the dataset''s labels.';

COMMENT ON COLUMN bi.latest_llm_mentions.source IS 'Always llm here.';

COMMENT ON COLUMN bi.latest_llm_mentions.model IS 'LLM model name.';

COMMENT ON COLUMN bi.latest_llm_mentions.confidence IS 'LLM confidence in [0, 1] when the backend gave log-probabilities.';

COMMENT ON COLUMN bi.latest_llm_mentions.run IS 'Prediction run id (the latest of its dataset and split).';

COMMENT ON COLUMN bi.latest_llm_mentions.annotator IS 'Always empty here (LLM mentions have no annotator).';

COMMENT ON COLUMN bi.latest_llm_mentions.created_at IS 'When the mention was stored.';

COMMENT ON COLUMN bi.label_counts.dataset IS 'Dataset (corpus) name.';

COMMENT ON COLUMN bi.label_counts.split IS 'Split of the sentences.';

COMMENT ON COLUMN bi.label_counts.source IS 'gold, human or llm.';

COMMENT ON COLUMN bi.label_counts.run IS 'Selection run (human) or prediction run (llm); empty for gold.';

COMMENT ON COLUMN bi.label_counts.label IS 'Entity type.';

COMMENT ON COLUMN bi.label_counts.mentions IS 'Number of mentions.';

COMMENT ON COLUMN bi.label_counts.sentences IS 'Number of sentences with at least one such mention.';

COMMENT ON COLUMN bi.label_counts.mean_confidence IS 'Mean LLM confidence (llm only; empty when the backend gave no log-probabilities).';

COMMENT ON COLUMN bi.selection_summary.run IS 'Selection run id.';

COMMENT ON COLUMN bi.selection_summary.dataset IS 'Dataset (corpus) name.';

COMMENT ON COLUMN bi.selection_summary.strategy IS 'The strategy as asked for: allabel+long (the default), allabel (the paper), random, coreset, similarity, uncertainty, full, allabel:<stages>; +total / +entities for stage-3 variants.';

COMMENT ON COLUMN bi.selection_summary.budget IS 'Budget as given: a count (120) or a share of the pool (5%).';

COMMENT ON COLUMN bi.selection_summary.status IS 'created, running, awaiting_annotation, done or failed.';

COMMENT ON COLUMN bi.selection_summary.created_at IS 'When the run was created.';

COMMENT ON COLUMN bi.selection_summary.perplexity_known_share IS 'Stage 3: share of the scored candidates whose answer had a perplexity (NULL: no stage 3 yet).';

COMMENT ON COLUMN bi.selection_summary.finished_at IS 'When the run finished.';

COMMENT ON COLUMN bi.selection_summary.selected IS 'Sentences selected so far.';

COMMENT ON COLUMN bi.selection_summary.diversity IS 'Sentences selected by stage 1 (diversity).';

COMMENT ON COLUMN bi.selection_summary.similarity IS 'Sentences selected by stage 2 (similarity).';

COMMENT ON COLUMN bi.selection_summary.uncertainty IS 'Sentences selected by stage 3 (uncertainty).';

COMMENT ON COLUMN bi.selection_summary.annotated IS 'Selected sentences annotated so far (person or oracle).';

COMMENT ON COLUMN bi.selection_summary.llm_calls IS 'LLM requests the run sent (cache misses).';

COMMENT ON COLUMN bi.evaluation_summary.run IS 'Prediction run id.';

COMMENT ON COLUMN bi.evaluation_summary.dataset IS 'Dataset (corpus) name.';

COMMENT ON COLUMN bi.evaluation_summary.split IS 'Split the run predicted and was scored on.';

COMMENT ON COLUMN bi.evaluation_summary.demonstrations IS 'Where demonstrations came from: a split name or run:N.';

COMMENT ON COLUMN bi.evaluation_summary.model IS 'LLM model name.';

COMMENT ON COLUMN bi.evaluation_summary.k IS 'Demonstrations per prompt.';

COMMENT ON COLUMN bi.evaluation_summary.label IS 'Entity type, or * for the micro average over all labels.';

COMMENT ON COLUMN bi.evaluation_summary.precision IS 'Exact-match precision against gold.';

COMMENT ON COLUMN bi.evaluation_summary.recall IS 'Exact-match recall against gold.';

COMMENT ON COLUMN bi.evaluation_summary.f1 IS 'Exact-match F1 against gold.';

COMMENT ON COLUMN bi.evaluation_summary.partial_f1 IS 'F1 counting overlapping spans of the same label as matches.';

COMMENT ON COLUMN bi.evaluation_summary.gold_mentions IS 'Gold mentions of this label in the scored sentences.';

COMMENT ON COLUMN bi.evaluation_summary.computed_at IS 'When the scores were computed.';

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

-- The reader role: it reads the views above (they run with their owner's rights) and nothing else.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'allabel_reader') THEN
        CREATE ROLE allabel_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END $$;
REVOKE ALL ON SCHEMA allabel FROM allabel_reader;
GRANT USAGE ON SCHEMA bi TO allabel_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA bi TO allabel_reader;
REVOKE ALL ON FUNCTION bi.bm25(text, text, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bi.bm25(text, text, int) TO allabel_reader;
-- The reader role reads the bi views and nothing else: no temporary tables either.
-- TEMP on a database is PUBLIC's by default, so revoking it from allabel_reader alone would
-- change nothing; it is revoked from PUBLIC on this database and granted back to the role that
-- runs the migrations (the jobs' role; the database owner keeps it in any case). allabel's own
-- jobs use no temporary tables. On a shared external database another role that needs TEMP
-- there gets it back with: GRANT TEMPORARY ON DATABASE <db> TO <role>.
-- Database privileges are not copied by CREATE DATABASE ... TEMPLATE: a clone of a migrated
-- database needs this file run again (`allabel init` does nothing there; run it by hand).
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
    -- Postgres < 15 lets PUBLIC create in schema public; the reader must not
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
END $$;
-- a role is the server's: commenting on it needs CREATEROLE, which a migrating role on an
-- external server may lack (then the comment is left out; the rights above are what matter)
DO $$
BEGIN
    COMMENT ON ROLE allabel_reader IS 'Read-only BI role: SELECT on the bi views and EXECUTE on bi.bm25(); no rights on schema allabel, no temporary tables, no CREATE anywhere.';
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'allabel_reader keeps its comment: no right to comment on roles';
END $$;
GRANT SELECT ON bi.quality, bi.current_mentions, bi.latest_llm_mentions TO allabel_reader;
