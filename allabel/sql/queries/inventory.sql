-- Queries of allabel/inventory.py (the `datasets` inventory, the dataset of a run).

-- name: splits
SELECT d.name AS dataset, s.split, count(*) AS sentences,
       sum(coalesce(cardinality(s.tokens), array_length(regexp_split_to_array(btrim(s.text), '\s+'), 1)))::bigint AS tokens,
       count(e.sentence_id) AS embedded
FROM datasets d
JOIN sentences s ON s.dataset_id = d.id
LEFT JOIN (SELECT DISTINCT sentence_id FROM embeddings) e ON e.sentence_id = s.id
GROUP BY d.name, s.split
ORDER BY d.name, s.split;

-- name: gold_by_label
SELECT d.name AS dataset, s.split, e.label, count(*) AS entities
FROM entities e JOIN sentences s ON s.id = e.sentence_id JOIN datasets d ON d.id = s.dataset_id
WHERE e.source = 'gold'
GROUP BY d.name, s.split, e.label
ORDER BY d.name, s.split, e.label;

-- name: labels
SELECT d.name AS dataset, l.name AS label, l.description
FROM datasets d JOIN labels l ON l.dataset_id = d.id
ORDER BY d.name, l.name;

-- name: datasets
SELECT name FROM datasets ORDER BY name;

-- name: run_dataset
-- The dataset of a run and the splits it has.
SELECT d.name AS dataset, array_agg(DISTINCT s.split ORDER BY s.split) AS splits
FROM runs r JOIN datasets d ON d.id = r.dataset_id JOIN sentences s ON s.dataset_id = d.id
WHERE r.id = %(run_id)s
GROUP BY d.name;
