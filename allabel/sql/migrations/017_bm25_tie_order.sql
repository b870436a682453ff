-- BM25 rankings that do not depend on summation order (issue 15, point 2): scores are rounded to
-- float4 and ties are broken by sentence id, in the whole-dataset search, the pool search and
-- (allabel/bm25.py) the in-process PoolIndex.
--
-- Why: a score is a float8 sum of one term per query lexeme. Postgres does not promise the order
-- in which an aggregate sees its rows, so two sentences with the same text (the corpus repeats
-- sentences) could get sums differing in the last bits, and "score DESC, id" then ordered the tie
-- by noise instead of id: at 1M sentences only 37/200 top-5 lists equalled bm25s's although
-- 194/200 had the same five scores. bm25s scores in float32 (its per-term scores are float32 and
-- summed in float32), so its tied sentences really are equal; rounding our sum to float4 (7
-- significant digits, ~1e8 times coarser than the float8 noise) makes ours equal too, and the
-- benchmark's reference order, bm25s's scores descending then index (= id) ascending, is ours.
--
-- The rule, everywhere: key = score::float4; ORDER BY key DESC, sentence_id ASC; the score
-- returned is the key (as float8), so callers that sort by (score DESC, id), such as bm25() and
-- `allabel search`, keep the order. Signatures are unchanged.
--
-- The MaxScore cut compares keys too: a sentence not yet scored holds none of the essential
-- terms, so its float8 score is at most the tail sum; it can be left out only if its key is
-- strictly below the k-th key (an equal key and a lower id would rank it above the k-th).
-- Rounding is monotone, so "(tail * (1 + 1e-12))::float4 < theta" (theta the k-th key) is safe;
-- comparing float8 tail < theta would drop a sentence whose score rounds to theta.
SET search_path = allabel, public;

CREATE OR REPLACE FUNCTION bm25_search_postings(
    p_dataset_id int, p_query text, p_k int, p_exclude bigint,
    p_k1 double precision, p_b double precision
) RETURNS TABLE (sentence_id bigint, score double precision)
LANGUAGE plpgsql STABLE
-- Generic plans: with the candidate ids known, the planner prices "sentence_id = ANY (thousands)"
-- as that many probes and picks a sequential or whole-index scan with a hash join (80-300 ms);
-- one skipping btree range scan per query term takes 3 ms.
SET plan_cache_mode = force_generic_plan SET max_parallel_workers_per_gather = 0
AS $$
DECLARE
    qv      tsvector := bm25_lexemes(p_query);
    n_docs  double precision;
    avgdl   double precision;
    ids     bigint[];
    w       double precision[];
    ub      double precision[];
    df      bigint[];
    n       int;
    j       int := 0;
    e       int;
    budget  bigint := 2000;
    acc     bigint := 0;
    tail    double precision;
    theta   real;
    cnt     int;
    c0      double precision := p_k1 * (1 - p_b);
    c1      double precision;
    cand    bigint[];
    top_ids bigint[];
    top_sc  double precision[];
BEGIN
    IF qv = ''::tsvector OR p_k <= 0 THEN
        RETURN;
    END IF;
    SELECT c.n_docs, c.total_len::float8 / greatest(c.n_docs, 1) INTO n_docs, avgdl
    FROM bm25_corpus c WHERE c.dataset_id = p_dataset_id;
    IF n_docs IS NULL OR n_docs = 0 OR avgdl = 0 THEN
        RETURN;
    END IF;
    SELECT array_agg(t.id ORDER BY t.ub DESC, t.id), array_agg(t.w ORDER BY t.ub DESC, t.id),
           array_agg(t.ub ORDER BY t.ub DESC, t.id), array_agg(t.df ORDER BY t.ub DESC, t.id)
    INTO ids, w, ub, df
    FROM (
        SELECT l.id, l.df, x.w,
               x.w * m.tf / (m.tf + p_k1 * (1 - p_b + p_b * greatest(l.min_dl, m.tf) / avgdl)) AS ub
        FROM unnest(qv) u
        JOIN bm25_lexemes l ON l.dataset_id = p_dataset_id AND l.lexeme = u.lexeme
        CROSS JOIN LATERAL (SELECT coalesce(cardinality(u.positions), 1)
                                   * ln(1 + (n_docs - l.df + 0.5) / (l.df + 0.5)) AS w) x
        CROSS JOIN LATERAL (SELECT l.max_tf::float8 AS tf) m
    ) t;
    IF ids IS NULL THEN
        RETURN;
    END IF;
    n := cardinality(ids);
    c1 := p_k1 * p_b / avgdl;

    LOOP
        -- terms 1..j: as many as fit the postings budget (at least one more than before), but
        -- never past the last essential term once theta is known
        j := j + 1;
        acc := acc + df[j];
        WHILE j < least(n, coalesce(e, n)) AND acc + df[j + 1] <= budget LOOP
            j := j + 1;
            acc := acc + df[j];
        END LOOP;

        SELECT array_agg(DISTINCT c.sentence_id) INTO cand
        FROM bm25_postings c
        WHERE c.lexeme_id = ANY (ids[1:j]) AND c.sentence_id IS DISTINCT FROM p_exclude;
        -- exact scores of the candidates (per query term one btree range scan skipping through
        -- the candidate ids), rounded to float4: the ranking key
        SELECT array_agg(r.sid ORDER BY r.score DESC, r.sid), array_agg(r.score ORDER BY r.score DESC, r.sid)
        INTO top_ids, top_sc
        FROM (
            SELECT p.sentence_id AS sid,
                   sum(q.w * p.tf / (p.tf + c0 + c1 * p.dl))::float4::float8 AS score
            FROM unnest(ids, w) AS q(id, w)
            CROSS JOIN LATERAL (SELECT b.sentence_id, b.tf::float8 AS tf, b.dl FROM bm25_postings b
                                WHERE b.lexeme_id = q.id AND b.sentence_id = ANY (cand)) p
            GROUP BY p.sentence_id
            ORDER BY score DESC, sid
            LIMIT p_k
        ) r;
        cnt := coalesce(cardinality(top_ids), 0);
        EXIT WHEN j >= n;
        -- essential terms 1..e: a sentence holding none of them scores at most the tail sum, and
        -- ranks below the k-th only if its key is strictly lower than the k-th key
        theta := CASE WHEN cnt >= p_k THEN top_sc[p_k] ELSE 0 END;
        e := n;
        tail := 0;
        WHILE e > 0 AND ((tail + ub[e]) * (1 + 1e-12))::float4 < theta LOOP
            tail := tail + ub[e];
            e := e - 1;
        END LOOP;
        EXIT WHEN e <= j;
        budget := budget * 8;
    END LOOP;

    RETURN QUERY SELECT o.sentence_id, o.score FROM unnest(top_ids, top_sc) AS o(sentence_id, score);
END $$;
COMMENT ON FUNCTION bm25_search_postings IS 'Exact top-k BM25 of a whole dataset from bm25_postings (MaxScore cut); scores rounded to float4, ties by sentence id; bm25_search calls it.';

-- Same signature; the pool case (p_within) ranks by the same key.
CREATE OR REPLACE FUNCTION bm25_search(
    p_dataset_id int,
    p_query      text,
    p_k          int DEFAULT 5,
    p_within     bigint[] DEFAULT NULL,
    p_exclude    bigint DEFAULT NULL,
    p_k1         double precision DEFAULT 1.2,
    p_b          double precision DEFAULT 0.75,
    p_avgdl      double precision DEFAULT NULL
) RETURNS TABLE (sentence_id bigint, score double precision)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    qv      tsvector := bm25_lexemes(p_query);
    n_docs  double precision;
    avgdl   double precision;
    lex     text[];
    w       double precision[];
    new_ids bigint[];
BEGIN
    IF qv = ''::tsvector OR p_k <= 0 THEN
        RETURN;
    END IF;
    IF p_within IS NULL THEN
        RETURN QUERY SELECT r.sentence_id, r.score
                     FROM bm25_search_postings(p_dataset_id, p_query, p_k, p_exclude, p_k1, p_b) r;
        RETURN;
    END IF;

    -- statistics over exactly the given set; pass p_avgdl when calling repeatedly with the
    -- same set (it is the only figure that needs every sentence of the set)
    SELECT count(*)::float8 INTO n_docs FROM sentences s
    WHERE s.id = ANY (p_within) AND s.dataset_id = p_dataset_id;
    IF n_docs = 0 THEN RETURN; END IF;
    avgdl := p_avgdl;
    IF avgdl IS NULL THEN
        SELECT coalesce(sum(coalesce(cardinality(u.positions), 1)), 0)::float8 / n_docs INTO avgdl
        FROM sentences s LEFT JOIN LATERAL unnest(s.tsv) u ON true
        WHERE s.id = ANY (p_within) AND s.dataset_id = p_dataset_id;
    END IF;
    -- every set member holding a query term is a candidate, so df over the candidates is exact
    SELECT array_agg(s.id) INTO new_ids FROM sentences s
    WHERE s.id = ANY (p_within) AND s.dataset_id = p_dataset_id
      AND s.tsv @@ bm25_any_query(qv);
    IF new_ids IS NULL THEN RETURN; END IF;
    SELECT array_agg(q.lexeme), array_agg(q.qtf * ln(1 + (n_docs - d.df + 0.5) / (d.df + 0.5)))
    INTO lex, w
    FROM (SELECT u.lexeme, coalesce(cardinality(u.positions), 1)::float8 AS qtf FROM unnest(qv) u) q
    JOIN (SELECT u.lexeme, count(*)::float8 AS df
          FROM sentences s CROSS JOIN LATERAL unnest(s.tsv) u
          WHERE s.id = ANY (new_ids) AND u.lexeme = ANY (tsvector_to_array(qv))
          GROUP BY u.lexeme) d USING (lexeme);
    RETURN QUERY
    SELECT r.sentence_id, r.score::float4::float8
    FROM bm25_score_docs(new_ids, lex, w, avgdl, p_k1, p_b) r
    WHERE r.sentence_id IS DISTINCT FROM p_exclude
    ORDER BY r.score::float4 DESC, r.sentence_id
    LIMIT p_k;
END $$;
COMMENT ON FUNCTION bm25_search IS 'Top-k BM25 (Lucene idf) over a dataset or over a given set of sentence ids; scores rounded to float4 (as bm25s''s float32), ties by sentence id.';
