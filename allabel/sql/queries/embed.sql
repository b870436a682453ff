-- Queries of allabel/embed.py.

-- name: count_missing
SELECT count(*) FROM sentences s
WHERE s.dataset_id = %(dataset_id)s
  AND (%(splits)s::text[] IS NULL OR s.split = ANY (%(splits)s::text[]))
  AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.sentence_id = s.id AND e.model = %(model)s);

-- name: claim_missing
-- A batch of sentences without a vector for this model, locked for this worker; rows other
-- workers hold are skipped, so concurrent embed jobs never embed a sentence twice. Shortest
-- first: a batch of similar lengths wastes little padding in the transformer.
SELECT s.id, s.text FROM sentences s
WHERE s.dataset_id = %(dataset_id)s
  AND (%(splits)s::text[] IS NULL OR s.split = ANY (%(splits)s::text[]))
  AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.sentence_id = s.id AND e.model = %(model)s)
ORDER BY length(s.text), s.id
LIMIT %(limit)s
FOR UPDATE OF s SKIP LOCKED;

-- name: copy_embeddings
COPY embeddings (sentence_id, model, embedding) FROM STDIN WITH (FORMAT BINARY);

-- name: copy_vectors_out
COPY (
    SELECT e.sentence_id, e.embedding FROM embeddings e JOIN sentences s ON s.id = e.sentence_id
    WHERE s.dataset_id = %(dataset_id)s AND e.model = %(model)s
      AND (%(ids)s::bigint[] IS NULL OR e.sentence_id = ANY (%(ids)s::bigint[]))
      AND (%(splits)s::text[] IS NULL OR s.split = ANY (%(splits)s::text[]))
    ORDER BY e.sentence_id
) TO STDOUT WITH (FORMAT BINARY);
