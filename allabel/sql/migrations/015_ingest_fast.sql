-- A cheaper BM25 step for ingest (issue 15): the same statistics and postings as 014's
-- bm25_index_sentences, computed with fewer passes. 014 joined ~13 (sentence, lexeme) rows per
-- sentence to the upserted lexemes on their text and sorted them all by (lexeme id, sentence);
-- here each lexeme's postings are gathered into arrays while its statistics are aggregated (one
-- row per lexeme), the arrays are joined to the lexeme ids (one row per lexeme) and unnested in
-- (lexeme id, sentence id) order: no join or sort of the postings themselves.
SET search_path = allabel, public;

CREATE OR REPLACE FUNCTION bm25_index_sentences(p_dataset_id int, p_files int[], p_lo bigint, p_hi bigint)
RETURNS bigint
LANGUAGE plpgsql
-- Hash aggregation by lexeme (sorting 280k lexemes for 21k sentences under the database's libc
-- collation took a quarter of the step), in memory; the only sorts left are of one row per
-- sentence or per lexeme, which the planner then still does.
SET enable_sort = off SET work_mem = '128MB'
AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM sentences s
    WHERE s.id BETWEEN p_lo AND p_hi AND s.dataset_id = p_dataset_id
      AND s.source_file_id = ANY (p_files);
    IF n = 0 THEN
        RETURN 0;
    END IF;
    WITH ud AS (
        -- sentences in id order (the primary key's range scan), so that each lexeme's arrays
        -- below come out sorted by sentence
        SELECT s.id AS sentence_id, x.lexeme, coalesce(cardinality(x.positions), 1) AS tf, d.dl
        FROM (SELECT s.id, s.tsv FROM sentences s
              WHERE s.id BETWEEN p_lo AND p_hi AND s.dataset_id = p_dataset_id
                AND s.source_file_id = ANY (p_files)
              ORDER BY s.id) s
        CROSS JOIN LATERAL (SELECT coalesce(sum(coalesce(cardinality(y.positions), 1)), 0)::int AS dl
                            FROM unnest(s.tsv) y) d
        CROSS JOIN LATERAL unnest(s.tsv) x
    ), lx AS MATERIALIZED (
        SELECT lexeme, count(*) AS df, max(tf) AS max_tf, min(dl) AS min_dl, sum(tf) AS occ,
               array_agg(sentence_id) AS sids, array_agg(tf) AS tfs, array_agg(dl) AS dls
        FROM ud GROUP BY lexeme
    ), up AS (
        INSERT INTO bm25_lexemes AS l (dataset_id, lexeme, df, max_tf, min_dl)
        SELECT p_dataset_id, lexeme, df, max_tf, min_dl FROM lx ORDER BY 2
        ON CONFLICT (dataset_id, lexeme) DO UPDATE
            SET df = l.df + EXCLUDED.df, max_tf = greatest(l.max_tf, EXCLUDED.max_tf),
                min_dl = least(l.min_dl, EXCLUDED.min_dl)
        RETURNING l.lexeme, l.id
    ), post AS (
        INSERT INTO bm25_postings (lexeme_id, sentence_id, tf, dl)
        SELECT j.id, p.sentence_id, p.tf, p.dl
        FROM (SELECT up.id, lx.sids, lx.tfs, lx.dls FROM lx JOIN up USING (lexeme) ORDER BY up.id) j
        CROSS JOIN LATERAL unnest(j.sids, j.tfs, j.dls) AS p(sentence_id, tf, dl)
    )
    INSERT INTO bm25_corpus AS c (dataset_id, n_docs, total_len)
    SELECT p_dataset_id, n, coalesce((SELECT sum(lx.occ) FROM lx), 0)
    ON CONFLICT (dataset_id) DO UPDATE
        SET n_docs = c.n_docs + EXCLUDED.n_docs, total_len = c.total_len + EXCLUDED.total_len;
    RETURN n;
END $$;
