-- Queries of allabel/experiment_rounds.py (allabel experiment --rounds).

-- name: finish_round
INSERT INTO experiment_rounds (experiment_id, strategy, seed, round, selection_run_id,
                               prediction_run_id, status, f1)
VALUES (%(experiment_id)s, %(strategy)s, %(seed)s, %(round)s, %(selection_run_id)s,
        %(prediction_run_id)s, 'done', %(f1)s)
ON CONFLICT (experiment_id, strategy, seed, round) DO UPDATE
SET selection_run_id = EXCLUDED.selection_run_id, prediction_run_id = EXCLUDED.prediction_run_id,
    status = 'done', f1 = EXCLUDED.f1;

-- name: rounds
-- Every finished round with what its chain has annotated so far (rounds 1..r): sentences and
-- tokens (allabel.sentence_tokens).
SELECT r.strategy, r.seed, r.round, r.selection_run_id, r.prediction_run_id, r.f1,
       (SELECT count(*) FROM experiment_rounds q JOIN selections s ON s.run_id = q.selection_run_id
        WHERE q.experiment_id = r.experiment_id AND q.strategy = r.strategy AND q.seed = r.seed
          AND q.round <= r.round) AS sentences,
       (SELECT coalesce(sum(sentence_tokens(x.tokens, x.text)), 0)
        FROM experiment_rounds q JOIN selections s ON s.run_id = q.selection_run_id
        JOIN sentences x ON x.id = s.sentence_id
        WHERE q.experiment_id = r.experiment_id AND q.strategy = r.strategy AND q.seed = r.seed
          AND q.round <= r.round) AS tokens
FROM experiment_rounds r
WHERE r.experiment_id = %(experiment_id)s AND r.status = 'done'
ORDER BY r.strategy, r.round, r.seed;
