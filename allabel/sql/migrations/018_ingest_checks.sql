-- Ingest checks its COPYs once per command instead of once per row (issue 15).
--
-- A COPY of sentences and entities fires, per row, the foreign-key checks of sentences (dataset,
-- source file) and of entities (sentence, run, prediction): one SPI query and, for entities, a
-- row lock on the sentence (a WAL record each). For the 21,225 sentences and 35,668 entities of
-- data/ that was ~0.45 s of the server's ~2.1 s, more than the sentence rows themselves. When the
-- ingest's role may set session_replication_role (a superuser, e.g. the embedded server's), the
-- ingest runs its two COPYs with it set to `replica`, which switches off the per-row checks and
-- the statement triggers of both tables, and calls ingest_check_written() before it commits:
-- one set-based pass that checks what they check for the rows the command wrote. Any other
-- role, and every other writer, goes through the triggers as before.
--
-- What the switched-off triggers do, and where it happens instead (tests/test_ingest_checks.py
-- fails if a trigger is added to either table, so that it is handled here too):
--   sentences: RI checks dataset_id, source_file_id    -> the counts below (the dataset row is
--                                                          locked FOR KEY SHARE by the ingest)
--              sentences_bm25_insert, _worklist_insert -> deferred anyway (allabel.bm25_deferred)
--   entities:  RI checks sentence_id (run_id, prediction_id are NULL for gold)
--                                                       -> the entity count below
--              entities_span_matches_text_ins           -> the span and label check below
SET search_path = allabel, public;

CREATE FUNCTION ingest_check_written(p_dataset_id int, p_files int[], p_lo bigint, p_hi bigint,
                                     p_sentences bigint, p_entities bigint) RETURNS void
LANGUAGE plpgsql
-- one merge join of the command's sentences (primary key range) and their entities (the
-- entities_sentence range): 0.03 s for 14k sentences, where per-sentence probes took 0.07 s
SET enable_nestloop = off SET enable_hashjoin = off
AS $$
DECLARE
    n       bigint;
    labs    text[];
    c       record;
    bad     record;
BEGIN
    -- the files are rows of the dataset
    SELECT count(*) INTO n FROM source_files f
    WHERE f.id = ANY (p_files) AND f.dataset_id = p_dataset_id;
    IF n <> cardinality(p_files) THEN
        RAISE EXCEPTION 'ingest: % of % source files are not rows of dataset %', cardinality(p_files) - n,
            cardinality(p_files), p_dataset_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT coalesce(array_agg(l.name), '{}') INTO labs FROM labels l WHERE l.dataset_id = p_dataset_id;
    -- every sentence written names the dataset and one of the files (the rows were written with
    -- ids in [p_lo, p_hi] by this transaction), every entity written belongs to one of them
    -- (nothing else can have entities of sentences no other transaction sees yet) and follows
    -- the rules of check_entity_spans() (sql/001)
    SELECT count(DISTINCT s.id) AS n_s, count(e.sentence_id) AS n_e,
           count(*) FILTER (WHERE e.sentence_id IS NOT NULL AND (
                                e.end_char > length(s.text)
                                OR substr(s.text, e.start_char + 1, e.end_char - e.start_char) IS DISTINCT FROM e.text
                                OR NOT e.label = ANY (labs))) AS n_bad
    INTO c
    FROM (SELECT s.id, s.text FROM sentences s
          WHERE s.id BETWEEN p_lo AND p_hi AND s.dataset_id = p_dataset_id
            AND s.source_file_id = ANY (p_files)) s
    LEFT JOIN (SELECT e.sentence_id, e.start_char, e.end_char, e.label, e.text FROM entities e
               WHERE e.sentence_id BETWEEN p_lo AND p_hi) e ON e.sentence_id = s.id;
    IF c.n_s <> p_sentences THEN
        RAISE EXCEPTION 'ingest: % sentences written, % of them with the dataset and source files of the command',
            p_sentences, c.n_s USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF c.n_e <> p_entities THEN
        RAISE EXCEPTION 'ingest: % entities written, % of them on sentences of the command', p_entities, c.n_e
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF c.n_bad = 0 THEN
        RETURN;
    END IF;
    -- the first bad entity, with the messages of check_entity_spans()
    SELECT e.sentence_id, e.start_char, e.end_char, e.text, e.label, s.text AS s_text,
           NOT (e.label = ANY (labs)) AS bad_label
    INTO bad
    FROM sentences s JOIN entities e ON e.sentence_id = s.id
    WHERE s.id BETWEEN p_lo AND p_hi AND s.dataset_id = p_dataset_id AND s.source_file_id = ANY (p_files)
      AND (e.end_char > length(s.text)
           OR substr(s.text, e.start_char + 1, e.end_char - e.start_char) IS DISTINCT FROM e.text
           OR NOT e.label = ANY (labs))
    ORDER BY s.id, e.start_char, e.end_char, e.label
    LIMIT 1;
    IF bad.end_char > length(bad.s_text) THEN
        RAISE EXCEPTION 'entity span [%, %) lies outside sentence % (length %)',
            bad.start_char, bad.end_char, bad.sentence_id, length(bad.s_text)
            USING ERRCODE = 'check_violation';
    ELSIF bad.bad_label THEN
        RAISE EXCEPTION 'label % is not a label of the dataset of sentence %',
            quote_literal(bad.label), bad.sentence_id USING ERRCODE = 'check_violation';
    ELSE
        RAISE EXCEPTION 'entity text % does not match the text % of sentence % at [%, %)',
            quote_literal(bad.text),
            quote_literal(substr(bad.s_text, bad.start_char + 1, bad.end_char - bad.start_char)),
            bad.sentence_id, bad.start_char, bad.end_char USING ERRCODE = 'check_violation';
    END IF;
END $$;
COMMENT ON FUNCTION ingest_check_written IS 'What the foreign keys and statement triggers of sentences and entities check, once per ingest command (for COPYs run with session_replication_role = replica).';
