-- Queries of the entity-aware selection options (issue 30): duplicate texts, label priors,
-- stage 3's type coverage, and the picks `allabel select` prints.

-- name: label_texts
-- A dataset's labels and their descriptions (--labels): what the entity prior compares sentences with.
SELECT name, description FROM labels WHERE dataset_id = %(dataset_id)s ORDER BY name;

-- name: answer_labels
-- Stage 3: the entity types the LLM's answer names for each candidate (type coverage).
SELECT DISTINCT p.sentence_id, e.label
FROM predictions p JOIN entities e ON e.prediction_id = p.id AND e.source = 'llm'
WHERE p.run_id = %(run_id)s AND p.status = 'done' AND p.sentence_id = ANY (%(ids)s::bigint[]);

-- name: annotated_labels
-- The entity types the run's annotations so far hold (stage 3's type coverage starts from them).
SELECT DISTINCT label FROM entities WHERE run_id = %(run_id)s AND source = 'human' ORDER BY label;

-- name: picks
-- A selection's picks in rank order with what chose them: stage, score, and for stage 3 how the
-- LLM's answer parsed (an unparseable answer is a reason to look twice).
SELECT s.rank, s.stage, s.score, s.sentence_id, t.text,
       p.parse_status, p.n_entities,
       EXISTS (SELECT 1 FROM annotations a WHERE a.run_id = s.run_id AND a.sentence_id = s.sentence_id)
           AS annotated
FROM selections s
JOIN sentences t ON t.id = s.sentence_id
LEFT JOIN predictions p ON p.run_id = s.run_id AND p.sentence_id = s.sentence_id
WHERE s.run_id = %(run_id)s
ORDER BY s.rank;
