-- scripts/bench_scale.py: pgvector's HNSW index beside the kNN libraries (a table of its own in
-- the scratch database), and the setup of `predict --new` at large N (the product's queue
-- queries are run from allabel/sql/queries/predict.sql).

-- name: create_vectors
CREATE TABLE v (id bigint PRIMARY KEY, e vector(384));

-- name: copy_vectors
COPY v FROM STDIN WITH (FORMAT BINARY);

-- name: index_memory
SET maintenance_work_mem = '1GB';

-- name: no_parallel_index_build
SET max_parallel_maintenance_workers = 0;

-- name: create_hnsw_index
CREATE INDEX ON v USING hnsw (e vector_ip_ops) WITH (m = 16, ef_construction = 80);

-- name: hnsw_ef_search
SET hnsw.ef_search = 48;

-- name: neighbours
-- The 11 nearest vectors of one (itself first), through the HNSW index.
SELECT id FROM v ORDER BY e <#> (SELECT e FROM v WHERE id = %(id)s) LIMIT 11;

-- name: triggers_off
-- Setup shortcut: the pool's BM25 postings play no part in predict (demonstrations come from the
-- train split), so the bulk insert skips the triggers.
SET session_replication_role = replica;

-- name: triggers_on
RESET session_replication_role;

-- name: insert_pool_sentences
INSERT INTO sentences (dataset_id, split, position, text)
SELECT %(dataset_id)s, 'pool', g, 'Sentence ' || g || ' reports toxicity of drug ' || (g %% 997)
FROM generate_series(0, %(n)s - 1) g;

-- name: finish_old_sentences
-- The pool sentences before position %(first_new)s finished by the run, set-based, without an LLM.
INSERT INTO predictions (run_id, sentence_id, status)
SELECT %(run_id)s, id, 'done' FROM sentences
WHERE dataset_id = %(dataset_id)s AND split = 'pool' AND position < %(first_new)s;

-- name: vacuum_predictions
VACUUM ANALYZE allabel.predictions;

-- name: vacuum_sentences
VACUUM ANALYZE allabel.sentences;
