-- Queries of allabel/select/ (run.py and the stages).

-- name: pool
-- Selectable sentences: the dataset's pool splits; the test split never is.
SELECT id FROM sentences
WHERE dataset_id = %(dataset_id)s AND split = ANY (%(splits)s::text[]) AND split <> 'test'
ORDER BY id;

-- name: splits
SELECT DISTINCT split FROM sentences WHERE dataset_id = %(dataset_id)s AND split <> 'test' ORDER BY 1;

-- name: selected
SELECT sentence_id, stage FROM selections WHERE run_id = %(run_id)s ORDER BY rank;

-- name: insert_selection
INSERT INTO selections (run_id, sentence_id, stage, rank, score)
VALUES (%(run_id)s, %(sentence_id)s, %(stage)s, %(rank)s, %(score)s);

-- name: unannotated
SELECT count(*) AS n FROM selections s
WHERE s.run_id = %(run_id)s
  AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.run_id = s.run_id AND a.sentence_id = s.sentence_id);

-- name: oracle_entities
-- The oracle annotates: gold spans of the selected, not yet annotated sentences become the run's
-- human entities.
INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id, annotator)
SELECT e.sentence_id, e.start_char, e.end_char, e.label, e.text, 'human', %(run_id)s, 'oracle'
FROM entities e JOIN selections s ON s.sentence_id = e.sentence_id AND s.run_id = %(run_id)s
WHERE e.source = 'gold'
  AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.run_id = s.run_id AND a.sentence_id = s.sentence_id);

-- name: oracle_annotations
INSERT INTO annotations (run_id, sentence_id, annotator, origin)
SELECT %(run_id)s, s.sentence_id, 'oracle', 'oracle' FROM selections s
WHERE s.run_id = %(run_id)s
  AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.run_id = s.run_id AND a.sentence_id = s.sentence_id);

-- name: texts
SELECT id, text FROM sentences WHERE id = ANY (%(ids)s::bigint[]) ORDER BY id;

-- name: count_scored
-- Stage 3: how many candidates the LLM scored for this selection run (and how many have a perplexity).
SELECT count(*) FILTER (WHERE status = 'done') AS scored,
       count(perplexity) AS with_perplexity
FROM predictions WHERE run_id = %(run_id)s;

-- name: token_counts
-- Whitespace tokens per pool sentence (the corpora are tokenised), for the length floor.
SELECT id, cardinality(regexp_split_to_array(btrim(text), '\s+')) AS n
FROM sentences WHERE id = ANY (%(ids)s::bigint[]) ORDER BY id;

-- name: answer_uncertainty
-- Stage 3 scores: the answer's perplexity, its length in tokens (total NLL = n * ln(ppl)) and the
-- entities it names (+entities).
SELECT p.sentence_id, p.perplexity, c.completion_tokens, p.parse_status, p.n_entities
FROM predictions p LEFT JOIN llm_calls c ON c.id = p.call_id
WHERE p.run_id = %(run_id)s AND p.status = 'done' AND p.sentence_id = ANY (%(ids)s::bigint[]);

-- name: add_stats
UPDATE runs SET stats = stats || %(stats)s WHERE id = %(run_id)s;

-- name: run_stats
SELECT stats FROM runs WHERE id = %(run_id)s;

-- name: perplexity_gaps
-- Why stage-3 candidates have no perplexity: the answer carried no log-probs, or no answer.
SELECT count(*) FILTER (WHERE p.status = 'done' AND c.token_logprobs IS NULL) AS no_logprobs,
       count(*) FILTER (WHERE p.status = 'done' AND c.token_logprobs IS NOT NULL
                        AND p.perplexity IS NULL) AS empty_answer,
       count(*) FILTER (WHERE p.status <> 'done') AS not_answered
FROM predictions p LEFT JOIN llm_calls c ON c.id = p.call_id
WHERE p.run_id = %(run_id)s AND p.sentence_id = ANY (%(ids)s::bigint[]);

-- name: forget_unknown
-- Stage 3 refused: drop the candidates' predictions without a perplexity (entities cascade).
DELETE FROM predictions
WHERE run_id = %(run_id)s AND sentence_id = ANY (%(ids)s::bigint[]) AND perplexity IS NULL;

-- name: run_dataset
-- The dataset of a selection run and its splits, for the CLI's "next:" line.
SELECT d.name, array_agg(DISTINCT s.split ORDER BY s.split) AS splits
FROM runs r JOIN datasets d ON d.id = r.dataset_id JOIN sentences s ON s.dataset_id = d.id
WHERE r.id = %(run_id)s
GROUP BY d.name;
