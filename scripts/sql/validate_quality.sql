-- scripts/validate_quality.py: the gold, the runs and the picks it measures quality against.

-- name: gold_of
-- The gold mentions of the given sentences (what an oracle audit of them would store).
SELECT sentence_id, start_char, end_char, label FROM allabel.entities
WHERE source = 'gold' AND sentence_id = ANY (%(ids)s);

-- name: calibrated_confidence
-- Raw and stored calibrated confidence of the given mentions.
SELECT e.id, e.confidence, c.probability FROM allabel.entities e
JOIN allabel.entity_calibration c ON c.entity_id = e.id
WHERE e.id = ANY (%(ids)s);

-- name: prediction_run
-- The prediction run on the unlabelled split with the given demos (``run:<selection run>``).
SELECT id FROM allabel.runs
WHERE kind = 'prediction' AND params ->> 'demos' = %(d)s AND params ->> 'split' = 'unlabelled';

-- name: unlabelled_sentences
SELECT s.id FROM allabel.sentences s JOIN allabel.datasets d ON d.id = s.dataset_id
WHERE d.name = %(n)s AND s.split = 'unlabelled' ORDER BY s.id;

-- name: latest_picks_of_stage
-- The sentences picked by the newest selection run of a stage ('audit' or 'review').
SELECT sentence_id FROM allabel.selections
WHERE stage = %(stage)s AND run_id = (SELECT max(run_id) FROM allabel.selections WHERE stage = %(stage)s);
