-- Queries of allabel/experiment.py and allabel/report.py.

-- name: find
SELECT id, status FROM experiments WHERE config_key = %(config_key)s;

-- name: create
INSERT INTO experiments (dataset_id, config_key, params) VALUES (%(dataset_id)s, %(config_key)s, %(params)s)
RETURNING id;

-- name: add_cell
INSERT INTO experiment_cells (experiment_id, strategy, budget, seed)
VALUES (%(experiment_id)s, %(strategy)s, %(budget)s, %(seed)s)
ON CONFLICT DO NOTHING;

-- name: cells
-- Seed by seed: 'full' (the reference) first, then the smallest budget first, so a partial run has
-- whole tables for its first seeds.
SELECT strategy, budget, seed, status, selection_run_id, prediction_run_id, f1
FROM experiment_cells WHERE experiment_id = %(experiment_id)s
ORDER BY seed, budget <> 'full', nullif(regexp_replace(budget, '[^0-9.]', '', 'g'), '')::numeric,
         strategy;

-- name: finish_cell
UPDATE experiment_cells SET status = 'done', selection_run_id = %(selection_run_id)s,
    prediction_run_id = %(prediction_run_id)s, f1 = %(f1)s
WHERE experiment_id = %(experiment_id)s AND strategy = %(strategy)s AND budget = %(budget)s
  AND seed = %(seed)s;

-- name: finish
UPDATE experiments SET status = %(status)s, finished_at = now() WHERE id = %(experiment_id)s;

-- name: test_ids
SELECT id FROM sentences WHERE dataset_id = %(dataset_id)s AND split = %(split)s ORDER BY id;

-- name: latest
SELECT max(id) AS experiment_id FROM experiments;

-- name: get
SELECT e.id, d.name AS dataset, e.params, e.status, e.created_at,
       (SELECT count(*) FROM experiment_cells c WHERE c.experiment_id = e.id AND c.status = 'done') AS done,
       (SELECT count(*) FROM experiment_cells c WHERE c.experiment_id = e.id) AS cells
FROM experiments e
JOIN datasets d ON d.id = e.dataset_id WHERE e.id = %(experiment_id)s;

-- name: cell_costs
-- Per cell: annotated sentences and tokens; LLM requests of its selection run, and of its
-- prediction run for the experiment's test sample only (the sample parameter: the run is shared
-- with experiments whose samples may be larger). F1 is scored on the sample in Python (score_on).
SELECT c.strategy, c.budget, c.seed, c.prediction_run_id,
       (SELECT count(*) FROM selections s WHERE s.run_id = c.selection_run_id) AS sentences,
       (SELECT coalesce(sum(coalesce(cardinality(x.tokens),
                                     array_length(regexp_split_to_array(btrim(x.text), '\s+'), 1))), 0)
        FROM selections s JOIN sentences x ON x.id = s.sentence_id
        WHERE s.run_id = c.selection_run_id) AS tokens,
       cost.calls, cost.requests, cost.llm_tokens
FROM experiment_cells c
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE NOT q.cache_hit) AS calls, count(*) AS requests,
           coalesce(sum(l.prompt_tokens + l.completion_tokens), 0) AS llm_tokens
    FROM (SELECT r.call_id, r.cache_hit FROM run_llm_requests r WHERE r.run_id = c.selection_run_id
          UNION ALL
          SELECT r.call_id, r.cache_hit FROM run_llm_requests r
          WHERE r.run_id = c.prediction_run_id
            AND r.call_id IN (SELECT p.call_id FROM predictions p
                              WHERE p.run_id = c.prediction_run_id
                                AND p.sentence_id = ANY(%(sample)s))) q
    LEFT JOIN llm_calls l ON l.id = q.call_id) cost
WHERE c.experiment_id = %(experiment_id)s AND c.status = 'done'
ORDER BY c.strategy, c.budget, c.seed;

-- name: done_cells
-- The finished cells with their prediction runs (the report's per-sentence counts come from these).
SELECT strategy, budget, seed, prediction_run_id FROM experiment_cells
WHERE experiment_id = %(experiment_id)s AND status = 'done' ORDER BY strategy, budget, seed;
