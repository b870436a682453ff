-- BI surface, version 2: every view carries ids and the sentence text, column names need no
-- quoting (start_char/end_char instead of start/"end"), the latest LLM run per dataset and split
-- has its own views, every user-facing column has a COMMENT (BI tools show them as field
-- descriptions), and BM25 search is callable by the reader role as bi.bm25().
-- Views run with their owner's rights, so allabel_reader still needs no access to schema allabel.
SET search_path = allabel, public;

DROP VIEW IF EXISTS bi.entity_mentions;
CREATE VIEW bi.entity_mentions AS
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
JOIN allabel.datasets d ON d.id = s.dataset_id;
COMMENT ON VIEW bi.entity_mentions IS 'One row per entity mention (gold, human annotation or LLM prediction) with its sentence, span, label, source, model, confidence and run.';

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

CREATE OR REPLACE VIEW bi.latest_llm_mentions AS
SELECT m.*
FROM bi.entity_mentions m
JOIN bi.prediction_runs p ON p.run = m.run AND p.is_latest
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
REVOKE ALL ON FUNCTION bi.bm25(text, text, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bi.bm25(text, text, int) TO allabel_reader;
GRANT USAGE ON SCHEMA bi TO allabel_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA bi TO allabel_reader;

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
COMMENT ON COLUMN bi.selection_summary.strategy IS 'allabel, random, coreset, similarity, uncertainty or full.';
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
