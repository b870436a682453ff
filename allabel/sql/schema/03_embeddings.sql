-- embeddings: sentence vectors (pgvector) and their HNSW index.
-- The current schema, in one place: `allabel init` creates a new database from these files
-- (allabel/sql/schema/, in name order); an existing one is upgraded by the migration deltas
-- (allabel/sql/migrations/). tests/test_schema.py checks that both give the same database.
SET search_path = allabel, public;

CREATE TABLE embeddings (
    sentence_id  bigint NOT NULL REFERENCES sentences(id) ON DELETE CASCADE,
    model        text   NOT NULL,
    embedding    vector(384) NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sentence_id, model)
);

COMMENT ON TABLE embeddings IS 'Unit-length sentence vectors (384-d, all-MiniLM-L6-v2 by default).';

-- HNSW cosine index; built outside a transaction (CONCURRENTLY) so it never blocks writers.
CREATE INDEX embeddings_hnsw
    ON embeddings USING hnsw (embedding vector_cosine_ops);
