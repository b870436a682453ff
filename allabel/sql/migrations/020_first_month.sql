-- Names and counts a team reads in BI (issue 32):
-- * bi.selection_summary.strategy names the run as it was asked for: the default is
--   'allabel+long' (stored as strategy 'allabel' with length_floor 0.5), not 'allabel' (the
--   paper's method); the same spelling as allabel.select.variants.variant_name.
-- * Stage 3's scratch answers (predictions a selection run makes to rank its candidates by
--   perplexity; entities with source 'llm' whose run is a selection run) are no LLM labels of
--   the corpus: bi.entity_mentions and bi.label_counts count only prediction runs' llm mentions.
-- Column lists are unchanged (CREATE OR REPLACE), so dashboards keep working. The strategy name
-- is spelled inline (no function): the reader role has no rights on schema allabel, and a
-- function a view calls is checked against the caller.
SET search_path = allabel, public;

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
COMMENT ON COLUMN bi.selection_summary.strategy IS 'The strategy as asked for: allabel+long (the default), allabel (the paper), random, coreset, similarity, uncertainty, full, allabel:<stages>; +total / +entities for stage-3 variants.';

GRANT SELECT ON ALL TABLES IN SCHEMA bi TO allabel_reader;
