-- Queries of allabel/annotation.

-- name: to_export
-- Selected sentences of a run (only those still to annotate unless all). Entities: the run's own
-- annotation for an annotated sentence (source human: a correction that deleted an LLM span
-- stays deleted), else the latest LLM prediction's entities as a pre-fill (source llm), else none.
SELECT s.id, s.text, s.tokens, s.token_starts, sel.stage, sel.rank,
       (a.sentence_id IS NOT NULL) AS annotated, a.annotator,
       CASE WHEN a.sentence_id IS NOT NULL THEN 'human'
            WHEN llm.run_id IS NOT NULL THEN 'llm' END AS source,
       coalesce((SELECT jsonb_agg(jsonb_build_object('start', e.start_char, 'end', e.end_char,
                                                     'label', e.label, 'text', e.text,
                                                     'confidence', e.confidence)
                                  ORDER BY e.start_char, e.end_char, e.label)
                 FROM entities e
                 WHERE e.sentence_id = s.id
                   AND CASE WHEN a.sentence_id IS NOT NULL
                            THEN e.source = 'human' AND e.run_id = sel.run_id
                            ELSE e.source = 'llm' AND e.run_id = llm.run_id END),
                '[]'::jsonb) AS entities
FROM selections sel
JOIN sentences s ON s.id = sel.sentence_id
LEFT JOIN annotations a ON a.run_id = sel.run_id AND a.sentence_id = sel.sentence_id
LEFT JOIN LATERAL (SELECT max(e2.run_id) AS run_id FROM entities e2
                   WHERE e2.sentence_id = s.id AND e2.source = 'llm') llm ON true
WHERE sel.run_id = %(run_id)s AND (%(all)s OR a.sentence_id IS NULL)
ORDER BY sel.rank;

-- name: export_entities
-- Sentences in scope (a dataset, optionally one split; optionally only a selection run's picks
-- or a prediction run's finished sentences) with the entities of one source:
--   gold:  the corpus entities; every sentence in scope.
--   human: the latest annotation of each sentence (of the given selection run, else of any run);
--          only annotated sentences; the entities of that annotation only.
--   llm:   the latest finished prediction of each sentence (of the given prediction run, else of
--          any run); only predicted sentences; the entities of that prediction run only.
WITH scope AS (
    SELECT s.id, s.text, s.tokens, s.token_starts, s.split, s.position, s.doc_id, sel.stage, sel.rank
    FROM sentences s
    LEFT JOIN selections sel ON sel.run_id = %(selection_run)s AND sel.sentence_id = s.id
    WHERE s.dataset_id = %(dataset_id)s
      AND (%(split)s::text IS NULL OR s.split = %(split)s)
      AND (%(selection_run)s::bigint IS NULL OR sel.sentence_id IS NOT NULL)
      AND (%(prediction_run)s::bigint IS NULL
           OR EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = %(prediction_run)s
                      AND p.sentence_id = s.id AND p.status = 'done'))
)
SELECT sc.id, sc.text, sc.tokens, sc.token_starts, sc.split, sc.position, sc.doc_id, sc.stage,
       sc.rank, src.run_id, src.annotator, src.origin, src.model,
       coalesce((SELECT jsonb_agg(jsonb_build_object('start', e.start_char, 'end', e.end_char,
                                                     'label', e.label, 'text', e.text,
                                                     'confidence', e.confidence)
                                  ORDER BY e.start_char, e.end_char, e.label)
                 FROM entities e
                 WHERE e.sentence_id = sc.id AND e.source = %(source)s
                   AND e.run_id IS NOT DISTINCT FROM src.run_id), '[]'::jsonb) AS entities
FROM scope sc
CROSS JOIN LATERAL (
    SELECT NULL::bigint AS run_id, NULL::text AS annotator, NULL::text AS origin, NULL::text AS model
    WHERE %(source)s = 'gold'
    UNION ALL
    (SELECT a.run_id, a.annotator, a.origin, NULL FROM annotations a
     WHERE %(source)s = 'human' AND a.sentence_id = sc.id
       AND (%(selection_run)s::bigint IS NULL OR a.run_id = %(selection_run)s)
     ORDER BY a.annotated_at DESC, a.run_id DESC LIMIT 1)
    UNION ALL
    (SELECT p.run_id, NULL, NULL, r.params ->> 'model' FROM predictions p JOIN runs r ON r.id = p.run_id
     WHERE %(source)s = 'llm' AND p.sentence_id = sc.id AND p.status = 'done'
       AND (%(prediction_run)s::bigint IS NULL OR p.run_id = %(prediction_run)s)
     ORDER BY p.updated_at DESC, p.run_id DESC LIMIT 1)
) src
ORDER BY sc.rank NULLS LAST, sc.split, sc.position;

-- name: run_info
SELECT r.kind, r.dataset_id, d.name AS dataset FROM runs r JOIN datasets d ON d.id = r.dataset_id
WHERE r.id = %(run_id)s;

-- name: dataset_labels
SELECT name, description FROM labels WHERE dataset_id = %(dataset_id)s ORDER BY name;

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

-- name: current_annotations
-- The stored annotation of each annotated sentence of a run: annotator and spans.
SELECT a.sentence_id, a.annotator,
       coalesce(array_agg(ARRAY[e.start_char::text, e.end_char::text, e.label]
                          ORDER BY e.start_char, e.end_char, e.label)
                FILTER (WHERE e.id IS NOT NULL), '{}') AS spans
FROM annotations a
LEFT JOIN entities e ON e.run_id = a.run_id AND e.sentence_id = a.sentence_id AND e.source = 'human'
WHERE a.run_id = %(run_id)s
GROUP BY a.sentence_id, a.annotator;

-- name: ls_project
SELECT project_id FROM labelstudio_projects WHERE run_id = %(run_id)s AND url = %(url)s;

-- name: ls_project_save
INSERT INTO labelstudio_projects (run_id, url, project_id) VALUES (%(run_id)s, %(url)s, %(project_id)s)
ON CONFLICT (run_id, url) DO UPDATE SET project_id = EXCLUDED.project_id, created_at = now();
