-- Queries of allabel/quality/ (audit scoring, cross-validation, calibration, review, storage).

-- name: latest_prediction_run
-- The dataset's latest prediction run with a finished prediction (quality's default --predictions);
-- quality's own runs (params.quality_of) never count.
SELECT r.id FROM runs r
WHERE r.dataset_id = %(dataset_id)s AND r.kind = 'prediction' AND NOT r.params ? 'quality_of'
  AND EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = r.id AND p.status = 'done')
ORDER BY coalesce(r.finished_at, r.started_at, r.created_at) DESC, r.id DESC
LIMIT 1;

-- name: annotated_audit_sentences
-- Audit sentences of the dataset a person (or the oracle) has annotated.
SELECT DISTINCT sel.sentence_id
FROM selections sel
JOIN runs r ON r.id = sel.run_id
JOIN annotations a ON a.run_id = sel.run_id AND a.sentence_id = sel.sentence_id
WHERE r.dataset_id = %(dataset_id)s AND sel.stage = 'audit'
ORDER BY sel.sentence_id;

-- name: truth
-- The entities of the latest annotation of each given sentence: what quality scores against.
WITH latest AS (
    SELECT DISTINCT ON (a.sentence_id) a.sentence_id, a.run_id
    FROM annotations a WHERE a.sentence_id = ANY (%(ids)s::bigint[])
    ORDER BY a.sentence_id, a.annotated_at DESC, a.run_id DESC
)
SELECT e.sentence_id, e.start_char, e.end_char, e.label
FROM latest l JOIN entities e ON e.sentence_id = l.sentence_id AND e.run_id = l.run_id
WHERE e.source = 'human'
ORDER BY e.sentence_id, e.start_char;

-- name: done_sentences
-- Which of the given sentences a prediction run has finished, with what the answer looked like.
SELECT p.sentence_id, p.parse_status, p.perplexity, p.n_entities
FROM predictions p
WHERE p.run_id = %(run_id)s AND p.status = 'done' AND p.sentence_id = ANY (%(ids)s::bigint[])
ORDER BY p.sentence_id;

-- name: mentions
-- The LLM mentions of a prediction run on the given sentences (NULL ids: all its sentences).
SELECT e.id AS entity_id, e.sentence_id, e.start_char, e.end_char, e.label, e.confidence
FROM entities e JOIN predictions p ON p.id = e.prediction_id
WHERE p.run_id = %(run_id)s AND p.status = 'done' AND e.source = 'llm'
  AND (%(ids)s::bigint[] IS NULL OR e.sentence_id = ANY (%(ids)s::bigint[]))
ORDER BY e.id;

-- name: run_labels
SELECT l.name AS label FROM runs r JOIN labels l ON l.dataset_id = r.dataset_id
WHERE r.id = %(run_id)s ORDER BY l.name;

-- name: fold_demo_ids
-- The demonstrations each prediction of a run was shown (cross-validation checks its folds).
SELECT sentence_id, demo_ids FROM predictions WHERE run_id = %(run_id)s AND status = 'done';

-- name: delete_estimates
DELETE FROM quality_estimates WHERE run_id = %(run_id)s;

-- name: insert_estimate
INSERT INTO quality_estimates (run_id, source, label, metric, value, low, high, sentences, gold_mentions)
VALUES (%(run_id)s, %(source)s, %(label)s, %(metric)s, %(value)s, %(low)s, %(high)s,
        %(sentences)s, %(gold_mentions)s);

-- name: delete_calibration
DELETE FROM calibrations WHERE run_id = %(run_id)s;

-- name: insert_calibration
INSERT INTO calibrations (run_id, method, params, n_entities, n_correct)
VALUES (%(run_id)s, %(method)s, %(params)s, %(n_entities)s, %(n_correct)s)
RETURNING id;

-- name: insert_entity_calibration
INSERT INTO entity_calibration (entity_id, calibration_id, probability)
VALUES (%(entity_id)s, %(calibration_id)s, %(probability)s);

-- name: calibration_of
SELECT id, method, params, n_entities, n_correct, fitted_at FROM calibrations WHERE run_id = %(run_id)s;

-- name: review_candidates
-- The run's finished sentences no selection run has picked (so none is annotated or waiting),
-- with the answer's parse status and perplexity, the sentence's whitespace tokens, and the
-- calibrated probability of each of its mentions (NULL: a mention without a confidence).
SELECT p.sentence_id, p.parse_status, p.perplexity, p.n_entities,
       cardinality(regexp_split_to_array(btrim(s.text), '\s+')) AS n_tokens,
       coalesce(array_agg(c.probability ORDER BY e.id) FILTER (WHERE e.id IS NOT NULL), '{}') AS probabilities
FROM predictions p
JOIN sentences s ON s.id = p.sentence_id
LEFT JOIN entities e ON e.prediction_id = p.id AND e.source = 'llm'
LEFT JOIN entity_calibration c ON c.entity_id = e.id
WHERE p.run_id = %(run_id)s AND p.status = 'done'
  AND NOT EXISTS (SELECT 1 FROM selections sel JOIN runs r ON r.id = sel.run_id
                  WHERE sel.sentence_id = p.sentence_id AND r.dataset_id = %(dataset_id)s)
GROUP BY p.sentence_id, p.parse_status, p.perplexity, p.n_entities, s.text
ORDER BY p.sentence_id;

-- name: token_counts
-- Whitespace tokens of the given sentences (review's expected misses per token).
SELECT id AS sentence_id, cardinality(regexp_split_to_array(btrim(text), '\s+')) AS n_tokens
FROM sentences WHERE id = ANY (%(ids)s::bigint[]);

-- name: review_records
-- The sentences of a review run in rank order with the prediction run's mentions (raw and
-- calibrated confidence): the pre-annotations a person corrects.
SELECT s.id, s.text, s.tokens, s.token_starts, sel.stage, sel.rank,
       coalesce((SELECT jsonb_agg(jsonb_build_object('start', e.start_char, 'end', e.end_char,
                                                     'label', e.label, 'text', e.text,
                                                     'raw_confidence', e.confidence,
                                                     'confidence', coalesce(c.probability, e.confidence))
                                  ORDER BY e.start_char, e.end_char, e.label)
                 FROM entities e LEFT JOIN entity_calibration c ON c.entity_id = e.id
                 WHERE e.sentence_id = s.id AND e.source = 'llm' AND e.run_id = %(predictions)s),
                '[]'::jsonb) AS entities
FROM selections sel JOIN sentences s ON s.id = sel.sentence_id
WHERE sel.run_id = %(run_id)s
ORDER BY sel.rank;

-- name: insert_review_pick
INSERT INTO selections (run_id, sentence_id, stage, rank, score)
VALUES (%(run_id)s, %(sentence_id)s, 'review', %(rank)s, %(score)s);

-- name: review_picks
SELECT count(*) AS picked,
       count(a.sentence_id) AS annotated
FROM selections sel
LEFT JOIN annotations a ON a.run_id = sel.run_id AND a.sentence_id = sel.sentence_id
WHERE sel.run_id = %(run_id)s;

-- name: set_status
UPDATE runs SET status = %(status)s, finished_at = CASE WHEN %(status)s = 'done' THEN now() END
WHERE id = %(run_id)s;

-- name: dataset_name
SELECT name FROM datasets WHERE id = %(dataset_id)s;
