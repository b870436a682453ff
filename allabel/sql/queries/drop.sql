-- Queries of allabel/drop.py (`allabel datasets drop NAME`).

-- name: lock_dataset
-- The ingest's lock of the dataset (sql/queries/ingest.sql): a concurrent ingest waits.
SELECT pg_advisory_xact_lock(hashtextextended('allabel.ingest:' || %(name)s, 0));

-- name: contents
-- What dropping the dataset removes, for the question and the report.
SELECT (SELECT count(*) FROM sentences s WHERE s.dataset_id = d.id) AS sentences,
       (SELECT count(*) FROM entities e JOIN sentences s ON s.id = e.sentence_id
        WHERE s.dataset_id = d.id) AS entities,
       (SELECT count(*) FROM embeddings m JOIN sentences s ON s.id = m.sentence_id
        WHERE s.dataset_id = d.id) AS embeddings,
       (SELECT count(*) FROM runs r WHERE r.dataset_id = d.id) AS runs,
       (SELECT count(*) FROM annotations a JOIN runs r ON r.id = a.run_id
        WHERE r.dataset_id = d.id) AS annotations,
       (SELECT count(*) FROM predictions p JOIN runs r ON r.id = p.run_id
        WHERE r.dataset_id = d.id) AS predictions,
       (SELECT count(*) FROM run_llm_requests q JOIN runs r ON r.id = q.run_id
        WHERE r.dataset_id = d.id) AS llm_requests,
       (SELECT count(*) FROM labelstudio_projects l JOIN runs r ON r.id = l.run_id
        WHERE r.dataset_id = d.id) AS labelstudio_projects,
       (SELECT count(*) FROM experiments x WHERE x.dataset_id = d.id) AS experiments
FROM datasets d WHERE d.id = %(dataset_id)s;

-- name: running_runs
-- Runs of the dataset a live process holds (after reconcile, `running` means exactly that).
SELECT id, kind FROM runs WHERE dataset_id = %(dataset_id)s AND status = 'running' ORDER BY id;

-- name: delete_dataset
-- Every table below datasets references it, its sentences or its runs with ON DELETE CASCADE
-- (labels, source_files, sentences, entities, embeddings, bm25_*, runs, selections,
-- annotations, predictions, run_llm_requests, llm_batches, labelstudio_projects, evaluations,
-- experiments); bm25_postings and predict_worklist are kept by their triggers.
DELETE FROM datasets WHERE id = %(dataset_id)s;

-- name: leftovers
-- Rows without a foreign key that the triggers should have removed (checked before commit).
SELECT (SELECT count(*) FROM predict_worklist w WHERE w.dataset_id = %(dataset_id)s)
     + (SELECT count(*) FROM bm25_lexemes l WHERE l.dataset_id = %(dataset_id)s)
     + (SELECT count(*) FROM bm25_postings p WHERE p.sentence_id BETWEEN %(lo)s AND %(hi)s
                                              AND NOT EXISTS (SELECT 1 FROM sentences s
                                                              WHERE s.id = p.sentence_id)) AS n;

-- name: sentence_range
SELECT coalesce(min(id), 0) AS lo, coalesce(max(id), -1) AS hi FROM sentences
WHERE dataset_id = %(dataset_id)s;
