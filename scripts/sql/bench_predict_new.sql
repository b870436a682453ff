-- scripts/bench_predict_new.py: `predict --new` at scale. The product's queue queries are run
-- from allabel/sql/queries/predict.sql; these are the benchmark's setup, its reference and its
-- bm25s comparison.

-- name: new_sentences_before_worklist
-- How --new found its sentences before the work list (allabel/sql/queries/predict.sql until
-- sql/016): one pass over the split, each sentence checked against the finished predictions of
-- prediction runs. Kept as the figure the work list is compared with.
SELECT s.id FROM sentences s
WHERE s.dataset_id = %(dataset_id)s AND s.split = %(split)s
  AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = %(run_id)s AND p.sentence_id = s.id)
  AND NOT EXISTS (SELECT 1 FROM predictions q JOIN runs r ON r.id = q.run_id
                  WHERE q.sentence_id = s.id AND q.status = 'done' AND r.kind = 'prediction')
ORDER BY s.position
LIMIT %(limit)s;

-- name: lexemes_per_sentence
-- bm25s's documents: each sentence's lexemes and their counts (from sentences.tsv, as BM25 in SQL).
SELECT s.id,
       coalesce(array_agg(u.lexeme) FILTER (WHERE u.lexeme IS NOT NULL), '{}') AS lexemes,
       coalesce(array_agg(coalesce(cardinality(u.positions), 1)) FILTER (WHERE u.lexeme IS NOT NULL), '{}') AS counts
FROM sentences s LEFT JOIN LATERAL unnest(s.tsv) u ON true
WHERE s.dataset_id = %(dataset_id)s
GROUP BY s.id ORDER BY s.id;

-- name: dataset_texts
SELECT text FROM sentences WHERE dataset_id = %(dataset_id)s ORDER BY id;

-- name: count_dataset_sentences
SELECT count(*) FROM sentences WHERE dataset_id = %(dataset_id)s;

-- name: split_files_and_ids
-- What the ingest's work-list step is given: the split's source files and its id range.
SELECT array_agg(DISTINCT source_file_id) AS files, min(id) AS lo, max(id) AS hi FROM sentences
WHERE dataset_id = %(dataset_id)s AND split = %(split)s;

-- name: clear_worklist
DELETE FROM predict_worklist WHERE dataset_id = %(dataset_id)s AND split = %(split)s;

-- name: finish_split
-- The benchmark's shortcut (not something allabel does): every sentence of the split finished by
-- one prediction run, set-based, without an LLM; the work list is emptied by its trigger.
INSERT INTO predictions (run_id, sentence_id, status)
SELECT %(run_id)s, id, 'done' FROM sentences WHERE dataset_id = %(dataset_id)s AND split = %(split)s;

-- name: vacuum_predictions
VACUUM ANALYZE allabel.predictions;

-- name: vacuum_sentences
VACUUM ANALYZE allabel.sentences;

-- name: vacuum_worklist
VACUUM ANALYZE allabel.predict_worklist;

-- name: explain_analyze
-- A prefix, not a statement: --explain runs it before the text of one of the product's queue
-- queries, so the plan shown is the plan of the statement allabel runs.
EXPLAIN (ANALYZE, BUFFERS)
