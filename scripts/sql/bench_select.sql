-- scripts/bench_select.py: the replicated pools (their vectors are written with
-- allabel/sql/queries/embed.sql's copy_embeddings).

-- name: sentence_ids_in_order
SELECT s.id FROM sentences s JOIN datasets d ON d.id = s.dataset_id WHERE d.name = %(name)s
ORDER BY s.position;

-- name: dataset_texts
SELECT id, text FROM sentences WHERE dataset_id = %(dataset_id)s;

-- name: run_stats
SELECT stats FROM runs WHERE id = %(run_id)s;
