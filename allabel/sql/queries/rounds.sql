-- Queries of allabel/select/exclusion.py, token_budget.py and rounds.py (issue 29: active
-- learning as a loop). "Taken" = picked by another selection run of the dataset: annotated
-- (an annotations row needs a selections row) or still waiting; audit picks count as taken.

-- name: taken
-- Pool sentences no strategy may pick again: selected by another selection run of the dataset
-- (any status: a failed run's picks may still be in an annotator's hands), or only by the runs
-- of an explicit chain (experiment rounds).
SELECT DISTINCT sel.sentence_id
FROM selections sel JOIN runs r ON r.id = sel.run_id
WHERE r.dataset_id = %(dataset_id)s AND r.kind = 'selection'
  AND r.id IS DISTINCT FROM %(run_id)s
  AND (%(after_runs)s::bigint[] IS NULL OR r.id = ANY (%(after_runs)s::bigint[]))
ORDER BY 1;

-- name: campaign_demos
-- The annotated sentences of the other runs in scope with their human (or oracle) entities: the
-- latest annotation of each sentence; audit picks excluded (they measure, they do not teach).
SELECT s.id, s.text,
       coalesce(array_agg(e.start_char ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS starts,
       coalesce(array_agg(e.end_char ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS ends,
       coalesce(array_agg(e.label ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS labels,
       coalesce(array_agg(e.text ORDER BY e.start_char, e.end_char) FILTER (WHERE e.id IS NOT NULL), '{}') AS texts
FROM (SELECT DISTINCT ON (a.sentence_id) a.sentence_id, a.run_id
      FROM annotations a
      JOIN runs r ON r.id = a.run_id
      JOIN selections sel ON sel.run_id = a.run_id AND sel.sentence_id = a.sentence_id
      WHERE r.dataset_id = %(dataset_id)s AND r.kind = 'selection' AND sel.stage <> 'audit'
        AND (%(after_runs)s::bigint[] IS NULL OR r.id = ANY (%(after_runs)s::bigint[]))
      ORDER BY a.sentence_id, a.annotated_at DESC, a.run_id DESC) a
JOIN sentences s ON s.id = a.sentence_id
LEFT JOIN entities e ON e.sentence_id = s.id AND e.source = 'human' AND e.run_id = a.run_id
GROUP BY s.id ORDER BY s.id;

-- name: latest_same
-- The newest selection run of the dataset with these parameters, as a round (params minus
-- "round") or not: repeating a command finds it instead of opening another round. An independent
-- run (--allow-annotated) with the same parameters is not a round of the campaign.
SELECT id, status, params ->> 'round' AS round FROM runs
WHERE kind = 'selection' AND dataset_id = %(dataset_id)s
  AND (params = %(params)s::jsonb OR params - 'round' = %(params)s::jsonb)
  AND coalesce((stats -> 'campaign' ->> 'allow_annotated')::boolean, false) = false
ORDER BY id DESC LIMIT 1;

-- name: runs_with_picks
-- How many selection runs of the dataset already picked something (the next round's number - 1).
SELECT count(DISTINCT sel.run_id) AS n
FROM selections sel JOIN runs r ON r.id = sel.run_id
WHERE r.dataset_id = %(dataset_id)s AND r.kind = 'selection';

-- name: token_counts
-- Tokens per sentence (allabel.sentence_tokens: stored tokens, else whitespace tokens).
SELECT id, sentence_tokens(tokens, text) AS n
FROM sentences WHERE id = ANY (%(ids)s::bigint[]) ORDER BY id;

-- name: mark_campaign
-- Remember how a run treats the other runs' picks (not identity: see allabel/select/exclusion.py).
UPDATE runs SET stats = stats || %(stats)s WHERE id = %(run_id)s;

-- name: run_campaign
SELECT stats -> 'campaign' AS campaign FROM runs WHERE id = %(run_id)s;

-- name: rounds
-- allabel rounds: every selection run of the dataset that is part of its campaign (not an
-- experiment's independent selection, not an experiment chain), oldest first, with picks,
-- tokens, annotated picks and LLM use.
SELECT r.id AS run_id, r.status, r.created_at, r.params ->> 'strategy' AS strategy,
       r.params ->> 'budget' AS budget, (r.params ->> 'round')::int AS round,
       count(sel.sentence_id) AS picks,
       coalesce(sum(sentence_tokens(s.tokens, s.text)), 0) AS tokens,
       count(a.sentence_id) AS annotated,
       count(a.sentence_id) FILTER (WHERE sel.stage <> 'audit') AS annotated_for_training,
       coalesce((SELECT sum(sentence_tokens(s2.tokens, s2.text)) FROM annotations a2
                 JOIN sentences s2 ON s2.id = a2.sentence_id WHERE a2.run_id = r.id), 0) AS annotated_tokens
FROM runs r
LEFT JOIN selections sel ON sel.run_id = r.id
LEFT JOIN sentences s ON s.id = sel.sentence_id
LEFT JOIN annotations a ON a.run_id = sel.run_id AND a.sentence_id = sel.sentence_id
WHERE r.kind = 'selection' AND r.dataset_id = %(dataset_id)s
  AND coalesce((r.stats -> 'campaign' ->> 'allow_annotated')::boolean, false) = false
  AND NOT (r.params ? 'after_runs')
GROUP BY r.id ORDER BY r.id;

-- name: unembedded
-- Pool sentences without a vector of the configured model (ingested since the last embed).
SELECT count(*) AS n FROM unnest(%(ids)s::bigint[]) AS p(id)
WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.sentence_id = p.id AND e.model = %(model)s);

-- name: quality_after_round
-- The quality estimate of the labels after a round (allabel quality, quality_estimates): the
-- micro F1 of the dataset's latest estimate computed after the round's run last changed and
-- before the next round started; an audit estimate before a cross-validation one.
SELECT q.value, q.low, q.high, q.source
FROM quality_estimates q
JOIN runs p ON p.id = q.run_id
WHERE p.dataset_id = %(dataset_id)s AND q.label = '*' AND q.metric = 'f1' AND q.value IS NOT NULL
  AND q.computed_at >= (SELECT coalesce(r.finished_at, r.created_at) FROM runs r WHERE r.id = %(run_id)s)
  AND (%(next_run_id)s::bigint IS NULL
       OR q.computed_at < (SELECT r.created_at FROM runs r WHERE r.id = %(next_run_id)s::bigint))
ORDER BY (q.source = 'audit') DESC, q.computed_at DESC
LIMIT 1;
