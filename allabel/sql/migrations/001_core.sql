-- Core corpus tables: datasets, their labels, ingested files, sentences, entity mentions.
-- Everything lives in schema "allabel"; the pgvector extension lives in "public".

CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS allabel;
SET search_path = allabel, public;

CREATE TABLE datasets (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE datasets IS 'A corpus: its sentences share one label schema.';

CREATE TABLE labels (
    dataset_id  int  NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text,
    PRIMARY KEY (dataset_id, name)
);
COMMENT ON TABLE labels IS 'Entity labels of a dataset; descriptions are shown to the LLM.';

CREATE TABLE source_files (
    id           serial PRIMARY KEY,
    dataset_id   int  NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    split        text NOT NULL,
    path         text NOT NULL,
    sha256       text NOT NULL,
    format       text NOT NULL CHECK (format IN ('conll', 'jsonl', 'text')),
    n_sentences  int  NOT NULL,
    n_entities   int  NOT NULL,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, split, sha256)
);
COMMENT ON TABLE source_files IS 'One row per ingested file; the same content is never ingested twice into a split.';

CREATE TABLE sentences (
    id              bigserial PRIMARY KEY,
    dataset_id      int  NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    split           text NOT NULL CHECK (length(split) BETWEEN 1 AND 100),
    doc_id          text,
    position        int  NOT NULL,
    source_file_id  int  REFERENCES source_files(id) ON DELETE CASCADE,
    text            text NOT NULL,
    tokens          text[],
    token_starts    int[],
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, split, position),
    CHECK ((tokens IS NULL) = (token_starts IS NULL)),
    CHECK (tokens IS NULL OR cardinality(tokens) = cardinality(token_starts))
);
CREATE INDEX sentences_dataset_split ON sentences (dataset_id, split, id);
COMMENT ON TABLE sentences IS 'One row per sentence. position is the 0-based order within (dataset, split). tokens/token_starts keep the tokenisation of token-level input (character offsets into text).';

-- One table for every entity mention: gold (from the corpus), human (annotations made for a
-- selection run, or oracle copies of gold), llm (predictions). BI reads it through bi.entity_mentions.
CREATE TABLE entities (
    id             bigserial PRIMARY KEY,
    sentence_id    bigint NOT NULL REFERENCES sentences(id) ON DELETE CASCADE,
    start_char     int  NOT NULL CHECK (start_char >= 0),
    end_char       int  NOT NULL,
    label          text NOT NULL,
    text           text NOT NULL,
    source         text NOT NULL CHECK (source IN ('gold', 'human', 'llm')),
    run_id         bigint,           -- selection run (human) or prediction run (llm); NULL for gold
    prediction_id  bigint,           -- llm: the prediction row it came from
    model          text,             -- llm: model name
    confidence     double precision CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1)),
    annotator      text,             -- human: who
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (end_char > start_char),
    CHECK ((source = 'gold') = (run_id IS NULL))
);
CREATE INDEX entities_sentence ON entities (sentence_id);
CREATE INDEX entities_run ON entities (run_id, sentence_id) WHERE run_id IS NOT NULL;
CREATE UNIQUE INDEX entities_gold_unique ON entities (sentence_id, start_char, end_char, label)
    WHERE source = 'gold';
CREATE UNIQUE INDEX entities_run_unique ON entities (run_id, sentence_id, start_char, end_char, label, source)
    WHERE source <> 'gold';
COMMENT ON TABLE entities IS 'Entity mentions: character span [start_char, end_char) of the sentence text. The database guarantees text = substring of the sentence at the span and a label of the dataset.';

-- The span guarantee lives in the database: a row whose text does not equal the sentence text at
-- its offsets, or whose label is not one of the dataset's labels, is rejected whatever wrote it.
-- Statement-level (transition table) so a COPY of 30k entities is checked by one set-based query.
CREATE FUNCTION check_entity_spans() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.sentence_id, n.start_char, n.end_char, n.text, n.label, s.text AS s_text,
           (l.name IS NULL) AS bad_label
    INTO bad
    FROM new_rows n
    JOIN sentences s ON s.id = n.sentence_id
    LEFT JOIN labels l ON l.dataset_id = s.dataset_id AND l.name = n.label
    WHERE n.end_char > length(s.text)
       OR substr(s.text, n.start_char + 1, n.end_char - n.start_char) IS DISTINCT FROM n.text
       OR l.name IS NULL
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
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

CREATE TRIGGER entities_span_matches_text_ins AFTER INSERT ON entities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION check_entity_spans();
CREATE TRIGGER entities_span_matches_text_upd AFTER UPDATE ON entities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION check_entity_spans();

-- Sentence text is immutable once stored: spans, embeddings and BM25 statistics depend on it.
CREATE FUNCTION forbid_text_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sentence text is immutable (sentence %)', OLD.id USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER sentences_text_immutable BEFORE UPDATE OF text ON sentences
    FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text) EXECUTE FUNCTION forbid_text_update();
