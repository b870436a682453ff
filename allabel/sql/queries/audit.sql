-- Queries of allabel/select/audit.py and the audit stage (allabel/select/stages/audit.py).

-- name: audit_sentences
-- The audit sentences of a dataset: every sentence some selection run picked with stage 'audit'.
SELECT DISTINCT sel.sentence_id
FROM selections sel JOIN runs r ON r.id = sel.run_id
WHERE r.dataset_id = %(dataset_id)s AND sel.stage = 'audit'
ORDER BY sel.sentence_id;

-- name: taken_sentences
-- Sentences of a dataset an audit may not draw: picked by any selection run (annotated or still
-- waiting for a person).
SELECT DISTINCT sel.sentence_id
FROM selections sel JOIN runs r ON r.id = sel.run_id
WHERE r.dataset_id = %(dataset_id)s
ORDER BY sel.sentence_id;

-- name: is_audit_run
SELECT count(*) > 0 AS audit FROM selections WHERE run_id = %(run_id)s AND stage = 'audit';
