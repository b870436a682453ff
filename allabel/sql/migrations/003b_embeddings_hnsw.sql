-- HNSW cosine index; built outside a transaction (CONCURRENTLY) so it never blocks writers.
CREATE INDEX CONCURRENTLY IF NOT EXISTS embeddings_hnsw
    ON allabel.embeddings USING hnsw (embedding vector_cosine_ops);
