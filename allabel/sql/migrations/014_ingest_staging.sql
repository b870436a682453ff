-- Ingest writes BM25 statistics and postings in one set-based step per command instead of one
-- trigger run per COPY: `allabel ingest` sets allabel.bm25_deferred = 'on' for its transaction
-- (set_config(..., true): it ends with the transaction) and calls bm25_index_sentences() once
-- before it commits. Every other writer of sentences still goes through the statement trigger,
-- so statistics stay right whatever wrote the rows.
SET search_path = allabel, public;

-- The statement trigger of 012, with the deferral switch in front.
CREATE OR REPLACE FUNCTION bm25_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('allabel.bm25_deferred', true) = 'on' THEN
        RETURN NULL;  -- the ingest transaction calls bm25_index_sentences() itself
    END IF;
    WITH u AS MATERIALIZED (
        SELECT n.dataset_id, n.id AS sentence_id, x.lexeme,
               coalesce(cardinality(x.positions), 1) AS tf, d.dl
        FROM new_rows n
        CROSS JOIN LATERAL (SELECT coalesce(sum(coalesce(cardinality(y.positions), 1)), 0)::int AS dl
                            FROM unnest(n.tsv) y) d
        CROSS JOIN LATERAL unnest(n.tsv) x
    ), lx AS (
        SELECT dataset_id, lexeme, count(*) AS df, max(tf) AS max_tf, min(dl) AS min_dl
        FROM u GROUP BY 1, 2
    ), up AS (
        INSERT INTO bm25_lexemes AS l (dataset_id, lexeme, df, max_tf, min_dl)
        SELECT dataset_id, lexeme, df, max_tf, min_dl FROM lx ORDER BY 1, 2
        ON CONFLICT (dataset_id, lexeme) DO UPDATE
            SET df = l.df + EXCLUDED.df, max_tf = greatest(l.max_tf, EXCLUDED.max_tf),
                min_dl = least(l.min_dl, EXCLUDED.min_dl)
        RETURNING l.dataset_id, l.lexeme, l.id
    ), post AS (
        INSERT INTO bm25_postings (lexeme_id, sentence_id, tf, dl)
        SELECT up.id, u.sentence_id, u.tf, u.dl
        FROM u JOIN up USING (dataset_id, lexeme)
        ORDER BY 1, 2
    )
    INSERT INTO bm25_corpus AS c (dataset_id, n_docs, total_len)
    SELECT d.dataset_id, d.n, coalesce((SELECT sum(u.tf) FROM u WHERE u.dataset_id = d.dataset_id), 0)
    FROM (SELECT dataset_id, count(*) AS n FROM new_rows GROUP BY 1) d ORDER BY 1
    ON CONFLICT (dataset_id) DO UPDATE
        SET n_docs = c.n_docs + EXCLUDED.n_docs, total_len = c.total_len + EXCLUDED.total_len;
    RETURN NULL;
END $$;

-- Statistics and postings of the sentences an ingest wrote: those of its source files (ids not
-- yet visible to anyone else), found through the id range they lie in. The deferred step of the
-- ingest command; the same single pass over their lexemes as the trigger feeds
-- bm25_lexemes, bm25_postings and bm25_corpus; returns the number of sentences indexed.
CREATE FUNCTION bm25_index_sentences(p_dataset_id int, p_files int[], p_lo bigint, p_hi bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM sentences s
    WHERE s.id BETWEEN p_lo AND p_hi AND s.dataset_id = p_dataset_id
      AND s.source_file_id = ANY (p_files);
    IF n = 0 THEN
        RETURN 0;
    END IF;
    WITH u AS MATERIALIZED (
        SELECT s.id AS sentence_id, x.lexeme, coalesce(cardinality(x.positions), 1) AS tf, d.dl
        FROM sentences s
        CROSS JOIN LATERAL (SELECT coalesce(sum(coalesce(cardinality(y.positions), 1)), 0)::int AS dl
                            FROM unnest(s.tsv) y) d
        CROSS JOIN LATERAL unnest(s.tsv) x
        WHERE s.id BETWEEN p_lo AND p_hi AND s.dataset_id = p_dataset_id
          AND s.source_file_id = ANY (p_files)
    ), lx AS (
        SELECT lexeme, count(*) AS df, max(tf) AS max_tf, min(dl) AS min_dl FROM u GROUP BY 1
    ), up AS (
        INSERT INTO bm25_lexemes AS l (dataset_id, lexeme, df, max_tf, min_dl)
        SELECT p_dataset_id, lexeme, df, max_tf, min_dl FROM lx ORDER BY 2
        ON CONFLICT (dataset_id, lexeme) DO UPDATE
            SET df = l.df + EXCLUDED.df, max_tf = greatest(l.max_tf, EXCLUDED.max_tf),
                min_dl = least(l.min_dl, EXCLUDED.min_dl)
        RETURNING l.lexeme, l.id
    ), post AS (
        INSERT INTO bm25_postings (lexeme_id, sentence_id, tf, dl)
        SELECT up.id, u.sentence_id, u.tf, u.dl
        FROM u JOIN up USING (lexeme)
        ORDER BY 1, 2
    )
    INSERT INTO bm25_corpus AS c (dataset_id, n_docs, total_len)
    SELECT p_dataset_id, n, coalesce((SELECT sum(u.tf) FROM u), 0)
    ON CONFLICT (dataset_id) DO UPDATE
        SET n_docs = c.n_docs + EXCLUDED.n_docs, total_len = c.total_len + EXCLUDED.total_len;
    RETURN n;
END $$;
COMMENT ON FUNCTION bm25_index_sentences IS 'BM25 statistics and postings for an ingest''s new sentences (one set-based step per command).';

-- bm25_lexemes is derived data like bm25_postings: its foreign key cost one RI check per new
-- lexeme of every ingest. The statistics triggers delete a lexeme when its last sentence goes;
-- a dataset's remaining rows go with the dataset through this trigger.
ALTER TABLE bm25_lexemes DROP CONSTRAINT bm25_lexemes_dataset_id_fkey;
CREATE FUNCTION bm25_dataset_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM bm25_lexemes l USING old_rows o WHERE l.dataset_id = o.id;
    RETURN NULL;
END $$;
CREATE TRIGGER datasets_bm25_delete AFTER DELETE ON datasets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bm25_dataset_delete();
