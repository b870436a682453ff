-- BM25 in SQL: lexemes of every sentence (generated tsvector + GIN), per-dataset statistics kept
-- current by statement-level triggers, and an exact Okapi BM25 search (Lucene idf).
SET search_path = allabel, public;

-- Lexemes come from the 'english' text-search configuration (stemmed, stop words removed). Very
-- long sentences are cut at 100,000 characters for BM25 only (a tsvector is limited to 1 MB).
CREATE FUNCTION bm25_lexemes(t text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_tsvector('english'::regconfig, left(t, 100000));

-- Document length for BM25 = number of lexeme occurrences (what bm25s sees as the token count).
CREATE FUNCTION bm25_doc_len(v tsvector) RETURNS int
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (SELECT coalesce(sum(coalesce(cardinality(u.positions), 1)), 0)::int FROM unnest(v) u);

-- A tsquery that matches any lexeme of v (OR); quotes and backslashes doubled per tsquery syntax.
CREATE FUNCTION bm25_any_query(v tsvector) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (SELECT string_agg('''' || replace(replace(u.lexeme, '\', '\\'), '''', '''''') || '''', ' | ')::tsquery
            FROM unnest(v) u);

ALTER TABLE sentences
    ADD COLUMN tsv tsvector GENERATED ALWAYS AS (bm25_lexemes(text)) STORED,
    ADD COLUMN doc_len int GENERATED ALWAYS AS (bm25_doc_len(bm25_lexemes(text))) STORED;
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
    PRIMARY KEY (dataset_id, lexeme)
);
COMMENT ON TABLE bm25_lexemes IS 'BM25 document frequency of each lexeme per dataset.';

CREATE FUNCTION bm25_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bm25_corpus AS c (dataset_id, n_docs, total_len)
    SELECT dataset_id, count(*), sum(doc_len) FROM new_rows GROUP BY dataset_id ORDER BY dataset_id
    ON CONFLICT (dataset_id) DO UPDATE
        SET n_docs = c.n_docs + EXCLUDED.n_docs, total_len = c.total_len + EXCLUDED.total_len;
    INSERT INTO bm25_lexemes AS l (dataset_id, lexeme, df)
    SELECT n.dataset_id, u.lexeme, count(*) FROM new_rows n, unnest(n.tsv) u
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (dataset_id, lexeme) DO UPDATE SET df = l.df + EXCLUDED.df;
    RETURN NULL;
END $$;

CREATE FUNCTION bm25_stats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bm25_corpus c SET n_docs = c.n_docs - o.n, total_len = c.total_len - o.len
    FROM (SELECT dataset_id, count(*) AS n, sum(doc_len) AS len FROM old_rows GROUP BY 1) o
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
-- score(q, d) = sum over query lexeme occurrences of idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl)).
-- p_within NULL: the whole dataset, statistics from bm25_corpus/bm25_lexemes.
-- p_within an id array: only those sentences, statistics computed over exactly that set
--   (demonstrations come from the annotated pool only).
-- p_exclude: a sentence never returned (the query sentence itself).
CREATE FUNCTION bm25_search(
    p_dataset_id int,
    p_query      text,
    p_k          int DEFAULT 5,
    p_within     bigint[] DEFAULT NULL,
    p_exclude    bigint DEFAULT NULL,
    p_k1         double precision DEFAULT 1.2,
    p_b          double precision DEFAULT 0.75
) RETURNS TABLE (sentence_id bigint, score double precision)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    qv tsvector := bm25_lexemes(p_query);
    n_docs double precision;
    avgdl double precision;
BEGIN
    IF qv = ''::tsvector OR p_k <= 0 THEN
        RETURN;
    END IF;
    IF p_within IS NULL THEN
        SELECT c.n_docs, c.total_len::float8 / greatest(c.n_docs, 1) INTO n_docs, avgdl
        FROM bm25_corpus c WHERE c.dataset_id = p_dataset_id;
        IF n_docs IS NULL OR n_docs = 0 THEN RETURN; END IF;
        RETURN QUERY
        WITH q AS (
            SELECT u.lexeme, coalesce(cardinality(u.positions), 1) AS qtf,
                   ln(1 + (n_docs - l.df + 0.5) / (l.df + 0.5)) AS idf
            FROM unnest(qv) u JOIN bm25_lexemes l ON l.dataset_id = p_dataset_id AND l.lexeme = u.lexeme
        )
        SELECT s.id, sum(q.qtf * q.idf * d.tf / (d.tf + p_k1 * (1 - p_b + p_b * s.doc_len / avgdl)))
        FROM sentences s
        CROSS JOIN LATERAL (SELECT u.lexeme, coalesce(cardinality(u.positions), 1) AS tf
                            FROM unnest(s.tsv) u) d
        JOIN q ON q.lexeme = d.lexeme
        WHERE s.dataset_id = p_dataset_id AND s.tsv @@ bm25_any_query(qv)
          AND s.id IS DISTINCT FROM p_exclude
        GROUP BY s.id
        ORDER BY 2 DESC, 1
        LIMIT p_k;
    ELSE
        RETURN QUERY
        WITH pool AS (
            SELECT s.id, s.tsv, s.doc_len FROM sentences s
            WHERE s.id = ANY (p_within) AND s.dataset_id = p_dataset_id
        ), st AS (
            SELECT count(*)::float8 AS n, avg(doc_len)::float8 AS avgdl FROM pool
        ), q AS (
            SELECT u.lexeme, coalesce(cardinality(u.positions), 1) AS qtf FROM unnest(qv) u
        ), df AS (
            SELECT u.lexeme, count(*)::float8 AS df
            FROM pool p, unnest(p.tsv) u WHERE u.lexeme IN (SELECT lexeme FROM q) GROUP BY 1
        )
        SELECT p.id, sum(q.qtf * ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5))
                         * d.tf / (d.tf + p_k1 * (1 - p_b + p_b * p.doc_len / st.avgdl)))
        FROM pool p CROSS JOIN st
        CROSS JOIN LATERAL (SELECT u.lexeme, coalesce(cardinality(u.positions), 1) AS tf
                            FROM unnest(p.tsv) u) d
        JOIN q ON q.lexeme = d.lexeme
        JOIN df ON df.lexeme = d.lexeme
        WHERE p.id IS DISTINCT FROM p_exclude
        GROUP BY p.id
        ORDER BY 2 DESC, 1
        LIMIT p_k;
    END IF;
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
