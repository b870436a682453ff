-- Sentence embeddings in pgvector, one row per (sentence, model), normalised (cosine = dot).
SET search_path = allabel, public;

CREATE TABLE embeddings (
    sentence_id  bigint NOT NULL REFERENCES sentences(id) ON DELETE CASCADE,
    model        text   NOT NULL,
    embedding    vector(384) NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sentence_id, model)
);
COMMENT ON TABLE embeddings IS 'Unit-length sentence vectors (384-d, all-MiniLM-L6-v2 by default).';
