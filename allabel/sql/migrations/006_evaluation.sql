-- Evaluation results and experiments (strategy x budget x seed grids).
SET search_path = allabel, public;

CREATE TABLE evaluations (
    run_id       bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,   -- the prediction run
    against      text   NOT NULL DEFAULT 'gold',
    metric       text   NOT NULL,      -- precision | recall | f1 | partial_precision | ...
    label        text   NOT NULL,      -- a label, or '*' for micro over all labels
    value        double precision NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, against, metric, label)
);
COMMENT ON TABLE evaluations IS 'Entity-level scores of a prediction run; label * = micro average.';

CREATE TABLE experiments (
    id           bigserial PRIMARY KEY,
    dataset_id   int  NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    config_key   text NOT NULL UNIQUE,
    params       jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);

CREATE TABLE experiment_cells (
    experiment_id      bigint NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    strategy           text NOT NULL,
    budget             text NOT NULL,
    seed               int  NOT NULL,
    selection_run_id   bigint REFERENCES runs(id) ON DELETE SET NULL,
    prediction_run_id  bigint REFERENCES runs(id) ON DELETE SET NULL,
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    f1                 double precision,
    PRIMARY KEY (experiment_id, strategy, budget, seed)
);
COMMENT ON TABLE experiment_cells IS 'One (strategy, budget, seed) of an experiment and the runs that realised it.';
