-- Queries of allabel/bm25.py.

-- name: search
SELECT sentence_id, score
FROM bm25_search(%(dataset_id)s, %(query)s, %(k)s, %(within)s::bigint[], %(exclude)s::bigint,
                 %(k1)s::float8, %(b)s::float8);

-- name: search_with_text
SELECT r.sentence_id, r.score, s.split, s.text
FROM bm25_search(%(dataset_id)s, %(query)s, %(k)s, NULL, NULL, %(k1)s::float8, %(b)s::float8) r
JOIN sentences s ON s.id = r.sentence_id
ORDER BY r.score DESC, r.sentence_id;
