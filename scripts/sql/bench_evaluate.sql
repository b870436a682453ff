-- scripts/bench_evaluate.py: synthetic predictions on every ingested sentence, written by COPY.

-- name: sentences
SELECT id, text, tokens, token_starts FROM sentences ORDER BY id;

-- name: gold_entities
SELECT sentence_id, start_char, end_char, label FROM entities;

-- name: insert_prediction_run
-- The run the synthetic predictions belong to (dataset 1: the only one of the scratch database).
INSERT INTO runs (kind, dataset_id) VALUES ('prediction', 1) RETURNING id;

-- name: copy_predictions
COPY predictions (id, run_id, sentence_id, status) FROM STDIN;

-- name: copy_entities
COPY entities (sentence_id, start_char, end_char, label, text, source, run_id, prediction_id) FROM STDIN;

-- name: count_predicted_entities
SELECT count(*) FROM entities WHERE source = 'llm';
