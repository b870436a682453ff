-- The BI surface: stable, documented views in schema "bi", and a read-only role that can read
-- them and nothing else (views run with their owner's rights, so the role needs no access to the
-- allabel tables, the LLM cache included).
CREATE SCHEMA IF NOT EXISTS bi;

CREATE VIEW bi.entity_mentions AS
SELECT d.name           AS dataset,
       s.split,
       s.doc_id         AS document,
       s.id             AS sentence_id,
       s.position       AS sentence_position,
       e.start_char     AS start,
       e.end_char       AS "end",
       e.text,
       e.label,
       e.source,                         -- gold | human | llm
       e.model,
       e.confidence,
       e.run_id         AS run,
       e.annotator,
       e.created_at
FROM allabel.entities e
JOIN allabel.sentences s ON s.id = e.sentence_id
JOIN allabel.datasets d ON d.id = s.dataset_id;
COMMENT ON VIEW bi.entity_mentions IS 'One row per entity mention (gold, human annotation or LLM prediction) with its sentence, span, label, source, model, confidence and run.';

CREATE VIEW bi.label_counts AS
SELECT d.name AS dataset, s.split, e.source, e.run_id AS run, e.label,
       count(*) AS mentions, count(DISTINCT e.sentence_id) AS sentences,
       avg(e.confidence) AS mean_confidence
FROM allabel.entities e
JOIN allabel.sentences s ON s.id = e.sentence_id
JOIN allabel.datasets d ON d.id = s.dataset_id
GROUP BY d.name, s.split, e.source, e.run_id, e.label;
COMMENT ON VIEW bi.label_counts IS 'Mentions per dataset, split, source, run and label.';

CREATE VIEW bi.selection_summary AS
SELECT r.id AS run, d.name AS dataset, r.params ->> 'strategy' AS strategy,
       r.params ->> 'budget' AS budget, r.status, r.created_at, r.finished_at,
       count(sel.sentence_id) AS selected,
       count(sel.sentence_id) FILTER (WHERE sel.stage = 'diversity') AS diversity,
       count(sel.sentence_id) FILTER (WHERE sel.stage = 'similarity') AS similarity,
       count(sel.sentence_id) FILTER (WHERE sel.stage = 'uncertainty') AS uncertainty,
       count(a.sentence_id) AS annotated,
       (r.stats ->> 'llm_calls')::int AS llm_calls
FROM allabel.runs r
JOIN allabel.datasets d ON d.id = r.dataset_id
LEFT JOIN allabel.selections sel ON sel.run_id = r.id
LEFT JOIN allabel.annotations a ON a.run_id = sel.run_id AND a.sentence_id = sel.sentence_id
WHERE r.kind = 'selection'
GROUP BY r.id, d.name;
COMMENT ON VIEW bi.selection_summary IS 'Selection runs: strategy, budget, status, picks per stage, annotated so far, LLM calls.';

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

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'allabel_reader') THEN
        CREATE ROLE allabel_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END $$;
REVOKE ALL ON SCHEMA allabel FROM allabel_reader;
GRANT USAGE ON SCHEMA bi TO allabel_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA bi TO allabel_reader;
