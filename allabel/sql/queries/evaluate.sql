-- Queries of allabel/evaluate.py. These run over ADBC (Arrow), so placeholders are $1, $2.

-- name: gold_of_run
-- Gold mentions of the sentences a prediction run has finished.
SELECT e.sentence_id, e.start_char, e.end_char, e.label
FROM allabel.entities e
JOIN allabel.predictions p ON p.sentence_id = e.sentence_id
WHERE p.run_id = $1 AND p.status = 'done' AND e.source = 'gold';

-- name: predicted_of_run
SELECT e.sentence_id, e.start_char, e.end_char, e.label
FROM allabel.entities e
JOIN allabel.predictions p ON p.id = e.prediction_id
WHERE p.run_id = $1 AND p.status = 'done' AND e.source = 'llm';

-- name: labels_of_run
SELECT l.name AS label FROM allabel.runs r JOIN allabel.labels l ON l.dataset_id = r.dataset_id
WHERE r.id = $1;

-- name: delete_evaluation
DELETE FROM evaluations WHERE run_id = %(run_id)s AND against = %(against)s;

-- name: insert_evaluation
INSERT INTO evaluations (run_id, against, metric, label, value)
VALUES (%(run_id)s, %(against)s, %(metric)s, %(label)s, %(value)s);

-- name: done_sentences_of_run
-- Every sentence a prediction run finished (per-sentence counts need the ones without mentions).
SELECT p.sentence_id FROM allabel.predictions p WHERE p.run_id = $1 AND p.status = 'done';
