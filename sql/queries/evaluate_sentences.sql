-- Per-sentence strict counts for paired bootstrap intervals (allabel/evaluate.py, allabel/stats.py).
-- Runs in DuckDB over three registered Arrow tables: gold and pred (sentence_id, start_char,
-- end_char, label), labels (label), sentences (sentence_id: every sentence the run finished, so a
-- sentence with neither gold nor predicted mentions still gets a row of zeros). Counts match the
-- micro row of the metrics query in evaluate.py: duplicates count once, only the dataset's labels.

-- name: per_sentence
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
