-- Queries of allabel/diagnose.py: what each strategy and stage picked, and what the LLM saw.

-- name: pool_profile
-- Length and gold entities of the whole selection pool of a run (its pool splits).
SELECT count(*) AS sentences,
       avg(length(s.text)) AS chars,
       avg(coalesce(g.n, 0)) AS entities,
       avg((coalesce(g.n, 0) = 0)::int) AS share_without_entities
FROM sentences s
LEFT JOIN (SELECT sentence_id, count(*) AS n FROM entities WHERE source = 'gold' GROUP BY sentence_id) g
       ON g.sentence_id = s.id
WHERE s.dataset_id = %(dataset_id)s AND s.split = ANY(%(splits)s);

-- name: picks_profile
-- Per experiment cell and stage: how many picks, their length, gold entities, label coverage.
SELECT c.strategy, c.budget, c.seed, sel.stage,
       count(*) AS picks,
       avg(length(s.text)) AS chars,
       avg(coalesce(g.n, 0)) AS entities,
       avg((coalesce(g.n, 0) = 0)::int) AS share_without_entities,
       (SELECT count(DISTINCT e.label) FROM selections x JOIN entities e ON e.sentence_id = x.sentence_id
         WHERE x.run_id = c.selection_run_id AND x.stage = sel.stage AND e.source = 'gold') AS labels_covered
FROM experiment_cells c
JOIN selections sel ON sel.run_id = c.selection_run_id
JOIN sentences s ON s.id = sel.sentence_id
LEFT JOIN (SELECT sentence_id, count(*) AS n FROM entities WHERE source = 'gold' GROUP BY sentence_id) g
       ON g.sentence_id = s.id
WHERE c.experiment_id = %(experiment_id)s AND c.status = 'done'
GROUP BY c.strategy, c.budget, c.seed, sel.stage, c.selection_run_id
ORDER BY c.strategy, c.budget, c.seed, sel.stage;

-- name: demo_coverage
-- Per cell: for the test sentences, how many gold entity types of the sentence also occur in its
-- retrieved demonstrations' (annotated) entities, and the demonstrations' entity count.
WITH p AS (
    SELECT c.strategy, c.budget, c.seed, c.selection_run_id, pr.sentence_id, pr.demo_ids
    FROM experiment_cells c JOIN predictions pr ON pr.run_id = c.prediction_run_id
    WHERE c.experiment_id = %(experiment_id)s AND c.status = 'done' AND pr.status = 'done'
), need AS (
    SELECT p.strategy, p.budget, p.seed, p.sentence_id, array_agg(DISTINCT e.label) AS labels
    FROM p JOIN entities e ON e.sentence_id = p.sentence_id AND e.source = 'gold'
    GROUP BY 1, 2, 3, 4
), shown AS (
    SELECT p.strategy, p.budget, p.seed, p.sentence_id,
           array_agg(DISTINCT e.label) FILTER (WHERE e.id IS NOT NULL) AS labels,
           count(e.id)::float / greatest(cardinality(p.demo_ids), 1) AS demo_entities
    FROM p CROSS JOIN LATERAL unnest(p.demo_ids) AS d(id)
    LEFT JOIN entities e ON e.sentence_id = d.id AND e.source = 'human' AND e.run_id = p.selection_run_id
    GROUP BY p.strategy, p.budget, p.seed, p.sentence_id, p.demo_ids
)
SELECT shown.strategy, shown.budget, shown.seed,
       avg(shown.demo_entities) AS demo_entities,
       avg(CASE WHEN need.labels IS NULL THEN NULL
                ELSE (SELECT count(*) FROM unnest(need.labels) l WHERE l = ANY(coalesce(shown.labels, '{}')))::float
                     / cardinality(need.labels) END) AS type_coverage,
       avg(CASE WHEN need.labels IS NULL THEN NULL
                ELSE (need.labels <@ coalesce(shown.labels, '{}'))::int END) AS all_types_shown
FROM shown LEFT JOIN need USING (strategy, budget, seed, sentence_id)
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- name: stage3_scores
-- Stage 3 candidates of the experiment's selection runs: perplexity, predicted vs gold spans.
SELECT c.strategy, c.budget, c.seed, pr.sentence_id, pr.perplexity, pr.parse_status,
       (SELECT count(*) FROM entities g WHERE g.sentence_id = pr.sentence_id AND g.source = 'gold') AS gold,
       (SELECT count(*) FROM entities l WHERE l.prediction_id = pr.id AND l.source = 'llm') AS predicted,
       (SELECT count(*) FROM entities l JOIN entities g
                 ON g.sentence_id = l.sentence_id AND g.source = 'gold' AND g.start_char = l.start_char
                AND g.end_char = l.end_char AND g.label = l.label
         WHERE l.prediction_id = pr.id AND l.source = 'llm') AS correct
FROM experiment_cells c JOIN predictions pr ON pr.run_id = c.selection_run_id
WHERE c.experiment_id = %(experiment_id)s AND c.status = 'done' AND pr.status = 'done';
