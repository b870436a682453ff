-- Active learning as a loop (issue 29): the rounds of an experiment's oracle campaigns, and the
-- token count of a sentence defined once.
SET search_path = allabel, public;

-- The annotation cost unit: a sentence's stored tokens (the corpus tokenisation) when it has
-- them, else its whitespace tokens. Token budgets (--budget 5000t), `allabel rounds` and the
-- experiment report all count with this.
CREATE FUNCTION sentence_tokens(tokens text[], text text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(cardinality(tokens),
                    cardinality(regexp_split_to_array(btrim(text), '\s+')))
$$;
COMMENT ON FUNCTION sentence_tokens(text[], text) IS
    'Annotation cost of a sentence in tokens: its stored tokens, else its whitespace tokens (token budgets, allabel rounds).';

CREATE TABLE experiment_rounds (
    experiment_id      bigint NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    strategy           text NOT NULL,
    seed               int  NOT NULL,
    round              int  NOT NULL CHECK (round >= 1),
    selection_run_id   bigint REFERENCES runs(id) ON DELETE SET NULL,
    prediction_run_id  bigint REFERENCES runs(id) ON DELETE SET NULL,
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    f1                 double precision,
    PRIMARY KEY (experiment_id, strategy, seed, round)
);
COMMENT ON TABLE experiment_rounds IS
    'allabel experiment --rounds R: round r of one (strategy, seed) oracle campaign, its selection run (which excludes the picks of rounds 1..r-1) and the prediction of the test sample with the demonstrations of rounds 1..r.';
