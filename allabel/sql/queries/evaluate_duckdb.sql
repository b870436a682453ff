-- DuckDB queries of allabel/evaluate.py (not Postgres: they run in an in-process DuckDB over
-- Arrow tables fetched with ADBC). gold and pred have (sentence_id, start_char, end_char, label);
-- labels has (label).

-- name: metrics
-- Strict and partial-overlap counts per label and the micro row ('*', sorted last).
WITH p AS (SELECT DISTINCT * FROM pred), g AS (SELECT DISTINCT * FROM gold),
tp AS (SELECT p.label, count(*) AS n FROM p JOIN g USING (sentence_id, start_char, end_char, label)
       GROUP BY ALL),
np AS (SELECT label, count(*) AS n FROM p GROUP BY ALL),
ng AS (SELECT label, count(*) AS n FROM g GROUP BY ALL),
pp AS (SELECT p.label, count(*) AS n FROM p WHERE EXISTS (
         SELECT 1 FROM g WHERE g.sentence_id = p.sentence_id AND g.label = p.label
           AND g.start_char < p.end_char AND p.start_char < g.end_char) GROUP BY ALL),
pg AS (SELECT g.label, count(*) AS n FROM g WHERE EXISTS (
         SELECT 1 FROM p WHERE g.sentence_id = p.sentence_id AND g.label = p.label
           AND g.start_char < p.end_char AND p.start_char < g.end_char) GROUP BY ALL),
per AS (
  SELECT l.label,
         coalesce(tp.n, 0) AS tp, coalesce(np.n, 0) AS n_pred, coalesce(ng.n, 0) AS n_gold,
         coalesce(pp.n, 0) AS pp, coalesce(pg.n, 0) AS pg
  FROM labels l LEFT JOIN tp USING (label) LEFT JOIN np USING (label) LEFT JOIN ng USING (label)
       LEFT JOIN pp USING (label) LEFT JOIN pg USING (label)
),
allrows AS (
  SELECT * FROM per
  UNION ALL
  SELECT '*', sum(tp), sum(n_pred), sum(n_gold), sum(pp), sum(pg) FROM per
)
SELECT label, tp, n_pred, n_gold,
       CASE WHEN n_pred > 0 THEN tp / n_pred ELSE 0 END AS precision,
       CASE WHEN n_gold > 0 THEN tp / n_gold ELSE 0 END AS recall,
       CASE WHEN n_pred > 0 THEN pp / n_pred ELSE 0 END AS partial_precision,
       CASE WHEN n_gold > 0 THEN pg / n_gold ELSE 0 END AS partial_recall
FROM allrows ORDER BY label = '*', label;

-- name: per_sentence
-- Per-sentence strict counts for paired bootstrap intervals (allabel/stats.py). A fourth table,
-- sentences (sentence_id: every sentence the run finished), gives a sentence with neither gold
-- nor predicted mentions a row of zeros. Counts match the micro row of `metrics`: duplicates
-- count once, only the dataset's labels.
WITH p AS (SELECT DISTINCT * FROM pred WHERE label IN (SELECT label FROM labels)),
g AS (SELECT DISTINCT * FROM gold WHERE label IN (SELECT label FROM labels)),
tp AS (SELECT sentence_id, count(*) AS n FROM p JOIN g USING (sentence_id, start_char, end_char, label)
       GROUP BY ALL),
np AS (SELECT sentence_id, count(*) AS n FROM p GROUP BY ALL),
ng AS (SELECT sentence_id, count(*) AS n FROM g GROUP BY ALL)
SELECT s.sentence_id,
       coalesce(tp.n, 0) AS tp,
       coalesce(np.n, 0) - coalesce(tp.n, 0) AS fp,
       coalesce(ng.n, 0) - coalesce(tp.n, 0) AS fn
FROM (SELECT DISTINCT sentence_id FROM sentences) s
LEFT JOIN tp USING (sentence_id) LEFT JOIN np USING (sentence_id) LEFT JOIN ng USING (sentence_id)
ORDER BY s.sentence_id;
