-- Queries of allabel/annotation.

-- name: to_export
-- Selected sentences of a run (only those still to annotate unless all), with the latest LLM
-- prediction's entities as a pre-fill when one exists.
SELECT s.id, s.text, s.tokens, s.token_starts, sel.stage, sel.rank,
       (a.sentence_id IS NOT NULL) AS annotated,
       coalesce((SELECT jsonb_agg(jsonb_build_object('start', e.start_char, 'end', e.end_char,
                                                     'label', e.label, 'text', e.text,
                                                     'confidence', e.confidence)
                                  ORDER BY e.start_char, e.end_char)
                 FROM entities e
                 WHERE e.sentence_id = s.id AND e.source = 'llm'
                   AND e.run_id = (SELECT max(e2.run_id) FROM entities e2
                                   WHERE e2.sentence_id = s.id AND e2.source = 'llm')),
                '[]'::jsonb) AS prefill
FROM selections sel
JOIN sentences s ON s.id = sel.sentence_id
LEFT JOIN annotations a ON a.run_id = sel.run_id AND a.sentence_id = sel.sentence_id
WHERE sel.run_id = %(run_id)s AND (%(all)s OR a.sentence_id IS NULL)
ORDER BY sel.rank;

-- name: run_sentences
SELECT s.id, s.text, s.tokens, s.token_starts FROM selections sel JOIN sentences s ON s.id = sel.sentence_id
WHERE sel.run_id = %(run_id)s;

-- name: run_labels
SELECT l.name FROM runs r JOIN labels l ON l.dataset_id = r.dataset_id WHERE r.id = %(run_id)s;

-- name: run_kind
SELECT kind FROM runs WHERE id = %(run_id)s;

-- name: clear_sentence
DELETE FROM entities WHERE run_id = %(run_id)s AND sentence_id = %(sentence_id)s AND source = 'human';

-- name: upsert_annotation
INSERT INTO annotations (run_id, sentence_id, annotator, origin, annotated_at)
VALUES (%(run_id)s, %(sentence_id)s, %(annotator)s, 'human', now())
ON CONFLICT (run_id, sentence_id) DO UPDATE
    SET annotator = EXCLUDED.annotator, origin = 'human', annotated_at = now();

-- name: insert_entity
INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id, annotator)
VALUES (%(sentence_id)s, %(start)s, %(end)s, %(label)s, %(text)s, 'human', %(run_id)s, %(annotator)s);
