-- scripts/bench_foundation.py: the datasets of the embedding and BM25 figures, made of sentences
-- already ingested (the lexemes of the queries come from allabel/sql/queries/bm25.sql).

-- name: first_texts
SELECT text FROM sentences WHERE dataset_id = %(dataset_id)s ORDER BY id LIMIT %(limit)s;

-- name: keep_first_sentences
-- The ids of the first sentences of a dataset, to be copied into a dataset of their own.
CREATE TABLE bench_keep AS SELECT id FROM sentences WHERE dataset_id = %(dataset_id)s
ORDER BY id LIMIT %(limit)s;

-- name: copy_kept_sentences
-- The sentences of bench_keep (their text only) as the split 'x' of dataset %(name)s.
INSERT INTO sentences (dataset_id, split, position, text)
SELECT (SELECT id FROM datasets WHERE name = %(name)s), 'x', row_number() OVER (ORDER BY id), text
FROM sentences WHERE id IN (SELECT id FROM bench_keep);

-- name: copy_first_sentences
-- The first %(limit)s sentences of a dataset (their text only) as the split 'x' of dataset %(name)s.
INSERT INTO sentences (dataset_id, split, position, text)
SELECT (SELECT id FROM datasets WHERE name = %(name)s), 'x', row_number() OVER (ORDER BY id), text
FROM sentences WHERE dataset_id = %(dataset_id)s
ORDER BY id LIMIT %(limit)s;

-- name: analyze_sentences
ANALYZE sentences;

-- name: dataset_texts
SELECT text FROM sentences WHERE dataset_id = %(dataset_id)s ORDER BY id;

-- name: texts_of_datasets
SELECT text FROM sentences WHERE dataset_id IN (SELECT id FROM datasets WHERE name = ANY (%(names)s::text[]))
ORDER BY id;
