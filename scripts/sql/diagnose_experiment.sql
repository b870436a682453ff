-- scripts/diagnose_experiment.py: which experiment, and its pool splits when its parameters do
-- not name them (the tables themselves come from allabel/sql/queries/diagnose.sql).

-- name: experiment
SELECT dataset_id, params FROM experiments WHERE id = %(experiment_id)s;

-- name: pool_splits
SELECT DISTINCT split FROM sentences WHERE dataset_id = %(dataset_id)s AND split <> %(test_split)s;
