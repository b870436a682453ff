-- Queries of allabel/cli/corpus.py (the `datasets` inventory).

-- name: splits
SELECT d.name, s.split, count(*) AS sentences,
       sum(coalesce(cardinality(s.tokens), array_length(regexp_split_to_array(btrim(s.text), '\s+'), 1)))::bigint AS tokens,
       count(e.sentence_id) AS embedded
FROM datasets d
JOIN sentences s ON s.dataset_id = d.id
LEFT JOIN (SELECT DISTINCT sentence_id FROM embeddings) e ON e.sentence_id = s.id
GROUP BY d.name, s.split
ORDER BY d.name, s.split;

-- name: gold_by_label
SELECT d.name, s.split, e.label, count(*) AS entities
FROM entities e JOIN sentences s ON s.id = e.sentence_id JOIN datasets d ON d.id = s.dataset_id
WHERE e.source = 'gold'
GROUP BY d.name, s.split, e.label
ORDER BY d.name, s.split, e.label;

-- name: labels
SELECT d.name, l.name, l.description FROM datasets d JOIN labels l ON l.dataset_id = d.id
ORDER BY d.name, l.name;

-- name: datasets
SELECT name FROM datasets ORDER BY name;
