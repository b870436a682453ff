-- scripts/bench_ingest_helper.py: a design allabel does not use (the lexemes of each chunk
-- computed by a second connection and sent with the COPY); the scratch database is altered for it.

-- name: tsv_filled_by_trigger
-- sentences.tsv becomes an ordinary column (a COPY cannot supply a GENERATED ALWAYS one); a
-- BEFORE INSERT trigger fills it for the other writers.
ALTER TABLE sentences ALTER COLUMN tsv DROP EXPRESSION;
CREATE FUNCTION sentences_tsv() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.tsv := bm25_lexemes(NEW.text); RETURN NEW; END $$;
CREATE TRIGGER sentences_tsv BEFORE INSERT ON sentences FOR EACH ROW EXECUTE FUNCTION sentences_tsv();

-- name: lexemes
-- The helper connection's work: the lexemes of a chunk of texts, in order, as COPY text.
SELECT allabel.bm25_lexemes(t)::text AS tsv FROM unnest(%(texts)s::text[]) t;

-- name: copy_sentences_with_tsv
COPY sentences (dataset_id, split, doc_id, position, source_file_id, text, tokens, token_starts, tsv) FROM STDIN;

-- name: count_tsv_mismatches
SELECT count(*) FROM sentences WHERE tsv IS DISTINCT FROM bm25_lexemes(text);
