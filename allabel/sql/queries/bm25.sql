-- Queries of allabel/bm25.py.

-- name: search
SELECT sentence_id, score
FROM bm25_search(%(dataset_id)s, %(query)s, %(k)s, %(within)s::bigint[], %(exclude)s::bigint,
                 %(k1)s::float8, %(b)s::float8, NULL::float8);

-- name: search_with_text
-- `allabel search`: the hits with their split and text.
SELECT r.sentence_id, r.score, s.split, s.text
FROM bm25_search(%(dataset_id)s, %(query)s, %(k)s, NULL, NULL, %(k1)s::float8, %(b)s::float8) r
JOIN sentences s ON s.id = r.sentence_id
ORDER BY r.score DESC, r.sentence_id;

-- name: pool_postings
-- Every (sentence, lexeme, tf) of a set of sentences, for the in-process pool index; sentences
-- without lexemes come back once with a NULL lexeme (they count in N and avgdl).
SELECT s.id AS sentence_id, u.lexeme, coalesce(cardinality(u.positions), 1) AS tf
FROM sentences s LEFT JOIN LATERAL unnest(s.tsv) u ON true
WHERE s.id = ANY (%(ids)s::bigint[]) AND s.dataset_id = %(dataset_id)s;

-- name: query_lexemes
-- Lexemes (with their count) of several query texts at once, by 1-based query number.
SELECT t.i, u.lexeme, coalesce(cardinality(u.positions), 1)
FROM unnest(%(texts)s::text[]) WITH ORDINALITY AS t(q, i)
CROSS JOIN LATERAL unnest(bm25_lexemes(t.q)) u;
