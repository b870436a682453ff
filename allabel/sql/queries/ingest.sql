-- Queries of allabel/ingest.

-- name: bulk_settings
-- The ingest transaction: sorts and hash tables of the BM25 step in memory, and BM25 statistics
-- and postings deferred to one bm25_index_sentences() call before commit (sql/014).
SELECT set_config('work_mem', '64MB', true), set_config('allabel.bm25_deferred', 'on', true);

-- name: row_checks_may_be_set_based
-- session_replication_role (which switches off the per-row checks of the COPYs, sql/018) may be
-- set by a superuser only (or a role granted SET on it, not looked for here).
SELECT current_setting('is_superuser') = 'on';

-- name: row_checks_off
SELECT set_config('session_replication_role', 'replica', true);

-- name: row_checks_on
SELECT set_config('session_replication_role', 'origin', true);

-- name: lock_dataset_row
-- What the sentences' foreign-key checks would lock: the dataset cannot go while the ingest runs.
SELECT id FROM datasets WHERE id = %(id)s FOR KEY SHARE;

-- name: ingest_check_written
SELECT ingest_check_written(%(dataset_id)s, %(files)s, %(lo)s, %(hi)s, %(sentences)s, %(entities)s);

-- name: bm25_index_sentences
SELECT bm25_index_sentences(%(dataset_id)s, %(files)s, %(lo)s, %(hi)s);

-- name: predict_worklist_add_sentences
-- The command's new sentences join the work list of predict --new (sql/016).
SELECT predict_worklist_add_sentences(%(dataset_id)s, %(files)s, %(lo)s, %(hi)s);

-- name: lock_dataset
-- Serialises concurrent ingests into one dataset (positions are assigned per split).
SELECT pg_advisory_xact_lock(hashtextextended('allabel.ingest:' || %(name)s, 0));

-- name: insert_dataset
INSERT INTO datasets (name) VALUES (%(name)s) ON CONFLICT (name) DO NOTHING;

-- name: dataset_id
SELECT id FROM datasets WHERE name = %(name)s;

-- name: upsert_label
INSERT INTO labels (dataset_id, name, description)
VALUES (%(dataset_id)s, %(name)s, %(description)s)
ON CONFLICT (dataset_id, name) DO UPDATE
    SET description = coalesce(EXCLUDED.description, labels.description);

-- name: source_file_exists
SELECT id FROM source_files
WHERE dataset_id = %(dataset_id)s AND split = %(split)s AND sha256 = %(sha256)s;

-- name: insert_source_file
INSERT INTO source_files (dataset_id, split, path, sha256, format, n_sentences, n_entities)
VALUES (%(dataset_id)s, %(split)s, %(path)s, %(sha256)s, %(format)s, %(n_sentences)s, %(n_entities)s)
RETURNING id;

-- name: set_source_file_counts
-- The row is inserted before its sentences are parsed to the end (they stream into the COPY).
UPDATE source_files SET n_sentences = %(n_sentences)s, n_entities = %(n_entities)s WHERE id = %(id)s;

-- name: next_position
SELECT coalesce(max(position) + 1, 0) FROM sentences
WHERE dataset_id = %(dataset_id)s AND split = %(split)s;

-- name: copy_sentences
COPY sentences (dataset_id, split, doc_id, position, source_file_id, text, tokens, token_starts)
FROM STDIN;

-- name: sentence_id_range
SELECT min(id), max(id) FROM sentences
WHERE dataset_id = %(dataset_id)s AND split = %(split)s AND position BETWEEN %(first)s AND %(last)s;

-- name: sentence_ids_by_position
SELECT id FROM sentences
WHERE dataset_id = %(dataset_id)s AND split = %(split)s AND position BETWEEN %(first)s AND %(last)s
ORDER BY position;

-- name: copy_gold_entities
COPY entities (sentence_id, start_char, end_char, label, text, source) FROM STDIN;
