-- Queries of allabel/demo.py: what the demo shows, read from the BI views a dashboard reads.

-- name: labelled_sentences
-- A few sentences of a prediction run with the mentions the LLM found in them.
SELECT m.sentence_id, m.sentence_text,
       jsonb_agg(jsonb_build_object('label', m.label, 'text', m.entity_text)
                 ORDER BY m.start_char, m.end_char) AS entities
FROM bi.entity_mentions m
WHERE m.run = %(run)s AND m.source = 'llm'
GROUP BY m.sentence_id, m.sentence_text
ORDER BY m.sentence_id
LIMIT %(n)s;

-- name: label_counts
SELECT split, source, run, label, mentions, sentences
FROM bi.label_counts
WHERE dataset = %(dataset)s
ORDER BY split, source, run NULLS FIRST, label;
