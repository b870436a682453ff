-- BM25 in SQL: lexemes of every sentence (generated tsvector + GIN), per-dataset statistics kept
-- current by statement-level triggers, and an exact Okapi BM25 search (Lucene idf).
SET search_path = allabel, public;

-- Lexemes come from the 'english' text-search configuration (stemmed, stop words removed). Very
-- long sentences are cut at 100,000 characters for BM25 only (a tsvector is limited to 1 MB).
CREATE FUNCTION bm25_lexemes(t text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_tsvector('english'::regconfig, left(t, 100000));

ALTER TABLE sentences
    ADD COLUMN tsv tsvector GENERATED ALWAYS AS (bm25_lexemes(text)) STORED;
-- Ingest merges the GIN pending list when it is done (gin_clean_pending_list): lookups that
-- have to scan a long pending list were measured 10x slower.
CREATE INDEX sentences_tsv ON sentences USING gin (tsv);

CREATE TABLE bm25_corpus (
    dataset_id  int PRIMARY KEY REFERENCES datasets(id) ON DELETE CASCADE,
    n_docs      bigint NOT NULL,
    total_len   bigint NOT NULL
);
COMMENT ON TABLE bm25_corpus IS 'BM25 statistics per dataset: sentence count and total lexeme count.';

CREATE TABLE bm25_lexemes (
    dataset_id  int  NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    lexeme      text NOT NULL,
    df          int  NOT NULL,
    max_tf      int  NOT NULL DEFAULT 1,   -- largest tf seen (an upper bound: never lowered)
    PRIMARY KEY (dataset_id, lexeme)
);
COMMENT ON TABLE bm25_lexemes IS 'BM25 document frequency of each lexeme per dataset.';

CREATE FUNCTION bm25_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- one pass over the new lexemes feeds both statistics tables
    WITH lx AS (
        SELECT n.dataset_id, u.lexeme, count(*) AS df,
               max(coalesce(cardinality(u.positions), 1)) AS max_tf,
               sum(coalesce(cardinality(u.positions), 1)) AS occurrences
        FROM new_rows n, unnest(n.tsv) u
        GROUP BY 1, 2
    ), ins AS (
        INSERT INTO bm25_lexemes AS l (dataset_id, lexeme, df, max_tf)
        SELECT dataset_id, lexeme, df, max_tf FROM lx ORDER BY 1, 2
        ON CONFLICT (dataset_id, lexeme) DO UPDATE
            SET df = l.df + EXCLUDED.df, max_tf = greatest(l.max_tf, EXCLUDED.max_tf)
    )
    INSERT INTO bm25_corpus AS c (dataset_id, n_docs, total_len)
    SELECT d.dataset_id, d.n, coalesce((SELECT sum(lx.occurrences) FROM lx
                                        WHERE lx.dataset_id = d.dataset_id), 0)
    FROM (SELECT dataset_id, count(*) AS n FROM new_rows GROUP BY 1) d ORDER BY 1
    ON CONFLICT (dataset_id) DO UPDATE
        SET n_docs = c.n_docs + EXCLUDED.n_docs, total_len = c.total_len + EXCLUDED.total_len;
    RETURN NULL;
END $$;

CREATE FUNCTION bm25_stats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bm25_corpus c SET n_docs = c.n_docs - o.n, total_len = c.total_len - o.len
    FROM (SELECT r.dataset_id, count(DISTINCT r.id) AS n,
                 coalesce(sum(coalesce(cardinality(u.positions), 1)), 0) AS len
          FROM old_rows r LEFT JOIN LATERAL unnest(r.tsv) u ON true GROUP BY 1) o
    WHERE c.dataset_id = o.dataset_id;
    UPDATE bm25_lexemes l SET df = l.df - o.n
    FROM (SELECT r.dataset_id, u.lexeme, count(*) AS n FROM old_rows r, unnest(r.tsv) u GROUP BY 1, 2) o
    WHERE l.dataset_id = o.dataset_id AND l.lexeme = o.lexeme;
    DELETE FROM bm25_lexemes WHERE df <= 0;
    RETURN NULL;
END $$;

CREATE TRIGGER sentences_bm25_insert AFTER INSERT ON sentences
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bm25_stats_insert();
CREATE TRIGGER sentences_bm25_delete AFTER DELETE ON sentences
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bm25_stats_delete();

-- Exact Okapi BM25 with Lucene's idf: idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)),
-- score(q, d) = sum over query lexemes t of qtf(t) * idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl))
-- (qtf = occurrences of t in the query, as bm25s sums a repeated query token; dl = lexeme
-- occurrences of d). Ties are broken by sentence id.
--
-- p_within NULL: the whole dataset, statistics from bm25_corpus/bm25_lexemes, with exact
--   MaxScore-style early termination: query terms are taken highest upper bound (rarest) first;
--   each step fetches (GIN) only the sentences that contain this term and none of the terms already
--   taken, scores them exactly, and keeps the top k. Sentences not yet seen contain only the
--   remaining terms, so their score is at most the sum of those terms' upper bounds; once that is
--   below the k-th score the answer is final. Common words are then never scanned.
-- p_within an id array: only those sentences, statistics computed over exactly that set
--   (demonstrations come from the annotated pool only).
-- p_exclude: a sentence never returned (the query sentence itself).

-- Score given sentences exactly against weighted query lexemes (w = qtf * idf).
CREATE FUNCTION bm25_score_docs(
    p_ids bigint[], p_lex text[], p_w double precision[], p_avgdl double precision,
    p_k1 double precision, p_b double precision
) RETURNS TABLE (sentence_id bigint, score double precision)
LANGUAGE sql STABLE AS $$
    SELECT s.id, sc.score
    FROM sentences s
    CROSS JOIN LATERAL (SELECT sum(coalesce(cardinality(u.positions), 1))::float8 AS dl
                        FROM unnest(s.tsv) u) d
    CROSS JOIN LATERAL (
        SELECT sum(q.w * t.tf / (t.tf + p_k1 * (1 - p_b + p_b * d.dl / p_avgdl))) AS score
        FROM unnest(s.tsv) u
        JOIN unnest(p_lex, p_w) AS q(lexeme, w) ON q.lexeme = u.lexeme
        CROSS JOIN LATERAL (SELECT coalesce(cardinality(u.positions), 1)::float8 AS tf) t
    ) sc
    WHERE s.id = ANY (p_ids)
$$;

-- A tsquery matching any lexeme of v (OR).
CREATE FUNCTION bm25_any_query(v tsvector) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (SELECT string_agg('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''', ' | ')::tsquery
            FROM unnest(v) u);

-- A tsquery matching one lexeme exactly (quotes and backslashes doubled per tsquery syntax).
CREATE FUNCTION bm25_term_query(lexeme text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''')::tsquery;

CREATE FUNCTION bm25_search(
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
    ub      double precision[];
    rest    double precision := 0;
    seen_q  tsquery;
    term_q  tsquery;
    new_ids bigint[];
    top_ids bigint[] := '{}';
    top_sc  double precision[] := '{}';
    theta   double precision := -1;
    i       int;
BEGIN
    IF qv = ''::tsvector OR p_k <= 0 THEN
        RETURN;
    END IF;

    IF p_within IS NOT NULL THEN
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
        SELECT r.sentence_id, r.score
        FROM bm25_score_docs(new_ids, lex, w, avgdl, p_k1, p_b) r
        WHERE r.sentence_id IS DISTINCT FROM p_exclude
        ORDER BY r.score DESC, r.sentence_id
        LIMIT p_k;
        RETURN;
    END IF;

    SELECT c.n_docs, c.total_len::float8 / greatest(c.n_docs, 1) INTO n_docs, avgdl
    FROM bm25_corpus c WHERE c.dataset_id = p_dataset_id;
    IF n_docs IS NULL OR n_docs = 0 THEN
        RETURN;
    END IF;

    -- query terms present in the dataset, with weight and upper bound, highest bound first
    SELECT array_agg(t.lexeme ORDER BY t.ub DESC, t.lexeme),
           array_agg(t.w ORDER BY t.ub DESC, t.lexeme),
           array_agg(t.ub ORDER BY t.ub DESC, t.lexeme),
           sum(t.ub)
    INTO lex, w, ub, rest
    FROM (
        SELECT u.lexeme, x.w,
               -- tf / (tf + k1 (1 - b + b dl/avgdl)) grows with tf and shrinks with dl >= tf:
               -- its maximum over the corpus is at tf = max_tf, dl = max_tf.
               x.w * l.max_tf / (l.max_tf + p_k1 * (1 - p_b + p_b * l.max_tf / avgdl)) AS ub
        FROM unnest(qv) u
        JOIN bm25_lexemes l ON l.dataset_id = p_dataset_id AND l.lexeme = u.lexeme
        CROSS JOIN LATERAL (SELECT coalesce(cardinality(u.positions), 1)
                                   * ln(1 + (n_docs - l.df + 0.5) / (l.df + 0.5)) AS w) x
    ) t;
    IF lex IS NULL THEN
        RETURN;
    END IF;

    FOR i IN 1 .. cardinality(lex) LOOP
        -- unseen sentences hold only terms i..n: their score is at most `rest`
        EXIT WHEN cardinality(top_ids) >= p_k AND rest * (1 + 1e-12) < theta;
        term_q := bm25_term_query(lex[i]);
        SELECT array_agg(s.id) INTO new_ids
        FROM sentences s
        -- "+ 0" keeps the planner on the GIN index of tsv (the rare term is the selective part)
        WHERE s.tsv @@ (CASE WHEN seen_q IS NULL THEN term_q ELSE term_q && !! seen_q END)
          AND s.dataset_id + 0 = p_dataset_id
          AND s.id IS DISTINCT FROM p_exclude;
        seen_q := CASE WHEN seen_q IS NULL THEN term_q ELSE seen_q || term_q END;
        rest := rest - ub[i];
        IF new_ids IS NOT NULL THEN
            SELECT array_agg(m.sentence_id ORDER BY m.score DESC, m.sentence_id),
                   array_agg(m.score ORDER BY m.score DESC, m.sentence_id)
            INTO top_ids, top_sc
            FROM (
                SELECT a.sentence_id, a.score FROM (
                    SELECT o.sentence_id, o.score FROM unnest(top_ids, top_sc) AS o(sentence_id, score)
                    UNION ALL
                    SELECT r.sentence_id, r.score
                    FROM bm25_score_docs(new_ids, lex, w, avgdl, p_k1, p_b) r
                ) a
                ORDER BY a.score DESC, a.sentence_id
                LIMIT p_k
            ) m;
            IF cardinality(top_ids) >= p_k THEN
                theta := top_sc[p_k];
            END IF;
        END IF;
    END LOOP;

    RETURN QUERY SELECT o.sentence_id, o.score FROM unnest(top_ids, top_sc) AS o(sentence_id, score);
END $$;
COMMENT ON FUNCTION bm25_search IS 'Top-k BM25 (Lucene idf) over a dataset or over a given set of sentence ids.';

-- Analyst-friendly form: by dataset name, returning the sentence text too.
CREATE FUNCTION bm25(p_dataset text, p_query text, p_k int DEFAULT 5)
RETURNS TABLE (sentence_id bigint, score double precision, split text, text text)
LANGUAGE sql STABLE AS $$
    SELECT r.sentence_id, r.score, s.split, s.text
    FROM datasets d
    CROSS JOIN LATERAL bm25_search(d.id, p_query, p_k) r
    JOIN sentences s ON s.id = r.sentence_id
    WHERE d.name = p_dataset
    ORDER BY r.score DESC, r.sentence_id
$$;
COMMENT ON FUNCTION bm25(text, text, int) IS 'SELECT * FROM allabel.bm25(''bc5cdr'', ''cisplatin nephrotoxicity'', 5);';
