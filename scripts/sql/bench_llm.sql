-- scripts/bench_llm.py: the test sentences of the local-backend figures (labels, the devel ids of
-- the endpoint figure and the demonstrations come from allabel/sql/queries/).

-- name: delete_predictions
-- Before the fully cached re-run: the predictions go, the prompt/answer cache stays.
DELETE FROM predictions;

-- name: first_sentences
SELECT id, text FROM sentences WHERE dataset_id = %(dataset_id)s AND split = %(split)s
ORDER BY id LIMIT %(limit)s;

-- name: sample_sentences
-- A fixed pseudo-random sample of a split (the same sentences on every run and machine).
SELECT id, text FROM sentences WHERE dataset_id = %(dataset_id)s AND split = %(split)s
ORDER BY md5(id::text) LIMIT %(limit)s;

-- name: gold_entities
SELECT sentence_id, start_char, end_char, label FROM entities
WHERE source = 'gold' AND sentence_id = ANY (%(ids)s::bigint[]);
