-- predict --new in O(new): the work list of sentences that no prediction run has finished.
--
-- `predict --new` asks for the sentences of a split that no prediction run of the dataset has
-- finished (a `done` prediction). As an anti-join that is one pass over the split per command
-- (~15 s at 1M sentences); this table holds the answer instead, so the command reads only the
-- unfinished sentences of its split:
--
--   (dataset_id, split, sentence_id) in predict_worklist
--       <=>  the sentence exists and no run of kind 'prediction' has a `done` prediction of it.
--
-- Kept in the transaction of every change that can move the invariant, so that it is visible
-- exactly when the change is (concurrent ingests commit out of order: no watermark):
--   * new sentences are added: by the ingest's deferred set-based step
--     (predict_worklist_add_sentences, called before it commits; `allabel.bm25_deferred` on),
--     by a statement trigger for every other writer of `sentences`;
--   * deleted sentences leave (statement trigger; a dataset's sentences go by cascade);
--   * a prediction of a prediction run turning `done` removes its sentence, in the statement
--     that marks it (statement triggers on `predictions`: finish, a bulk insert of done rows);
--   * a `done` prediction that goes away (its run deleted, status changed back) puts its sentence
--     back unless another prediction run has finished it.
-- Failed and pending predictions never remove a sentence: it stays new. No foreign keys (one RI
-- check per ingested sentence; the triggers keep the rows right, like bm25_lexemes in sql/014).
SET search_path = allabel, public;

CREATE TABLE predict_worklist (
    dataset_id   int    NOT NULL,
    split        text   NOT NULL,
    sentence_id  bigint NOT NULL,
    PRIMARY KEY (dataset_id, split, sentence_id)
);
COMMENT ON TABLE predict_worklist IS 'Sentences no prediction run has finished (predict --new reads its split here instead of an anti-join over the split). Kept by ingest and by triggers on sentences and predictions.';

-- The done predictions of a sentence, looked up when a done row goes away (the restore below).
CREATE INDEX predictions_done_sentence ON predictions (sentence_id) WHERE status = 'done';

-- Backfill: every sentence without a done prediction of a prediction run.
INSERT INTO predict_worklist (dataset_id, split, sentence_id)
SELECT s.dataset_id, s.split, s.id FROM sentences s
WHERE NOT EXISTS (SELECT 1 FROM predictions p JOIN runs r ON r.id = p.run_id
                  WHERE p.sentence_id = s.id AND p.status = 'done' AND r.kind = 'prediction')
ORDER BY 1, 2, 3;

-- The ingest's deferred step: the sentences of its source files (the id range they lie in, as
-- bm25_index_sentences reads them). Returns the number of sentences added. Their ids are new in
-- this transaction, so no conflict is possible: no ON CONFLICT clause (its speculative insertion
-- doubled this step's CPU, ~4.5 -> ~2.3 microseconds a sentence).
CREATE FUNCTION predict_worklist_add_sentences(p_dataset_id int, p_files int[], p_lo bigint,
                                               p_hi bigint) RETURNS bigint
LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO predict_worklist (dataset_id, split, sentence_id)
        SELECT s.dataset_id, s.split, s.id FROM sentences s
        WHERE s.id BETWEEN p_lo AND p_hi AND s.dataset_id = p_dataset_id
          AND s.source_file_id = ANY (p_files)
        RETURNING 1)
    SELECT count(*) FROM ins;
$$;
COMMENT ON FUNCTION predict_worklist_add_sentences IS 'The work list of predict --new: an ingest''s new sentences (one set-based step per command).';

CREATE FUNCTION predict_worklist_sentences() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF current_setting('allabel.bm25_deferred', true) = 'on' THEN
            RETURN NULL;  -- an ingest: predict_worklist_add_sentences() runs before it commits
        END IF;
        INSERT INTO predict_worklist (dataset_id, split, sentence_id)
        SELECT dataset_id, split, id FROM new_rows ORDER BY 1, 2, 3
        ON CONFLICT DO NOTHING;
    ELSE
        DELETE FROM predict_worklist w USING old_rows o
        WHERE w.dataset_id = o.dataset_id AND w.split = o.split AND w.sentence_id = o.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER sentences_worklist_insert AFTER INSERT ON sentences
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION predict_worklist_sentences();
CREATE TRIGGER sentences_worklist_delete AFTER DELETE ON sentences
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION predict_worklist_sentences();

-- predictions: done (of a prediction run) removes the sentence; a done row that goes away or
-- stops being done restores it (when no other prediction run finished it).
CREATE FUNCTION predict_worklist_predictions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        DELETE FROM predict_worklist w
        USING new_rows n JOIN runs r ON r.id = n.run_id JOIN sentences s ON s.id = n.sentence_id
        WHERE n.status = 'done' AND r.kind = 'prediction'
          AND w.dataset_id = s.dataset_id AND w.split = s.split AND w.sentence_id = s.id;
    END IF;
    IF TG_OP = 'INSERT' THEN
        RETURN NULL;
    END IF;
    -- done rows that went away or stopped being done: their sentences back, unless another
    -- prediction run finished them (a deleted sentence is not visible here and stays out)
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO predict_worklist (dataset_id, split, sentence_id)
        SELECT s.dataset_id, s.split, s.id FROM sentences s
        WHERE s.id IN (SELECT o.sentence_id FROM old_rows o JOIN new_rows n ON n.id = o.id
                       WHERE o.status = 'done' AND n.status <> 'done')
          AND NOT EXISTS (SELECT 1 FROM predictions p JOIN runs r ON r.id = p.run_id
                          WHERE p.sentence_id = s.id AND p.status = 'done' AND r.kind = 'prediction')
        ORDER BY 1, 2, 3
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO predict_worklist (dataset_id, split, sentence_id)
        SELECT s.dataset_id, s.split, s.id FROM sentences s
        WHERE s.id IN (SELECT o.sentence_id FROM old_rows o WHERE o.status = 'done')
          AND NOT EXISTS (SELECT 1 FROM predictions p JOIN runs r ON r.id = p.run_id
                          WHERE p.sentence_id = s.id AND p.status = 'done' AND r.kind = 'prediction')
        ORDER BY 1, 2, 3
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER predictions_worklist_insert AFTER INSERT ON predictions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION predict_worklist_predictions();
CREATE TRIGGER predictions_worklist_update AFTER UPDATE ON predictions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION predict_worklist_predictions();
CREATE TRIGGER predictions_worklist_delete AFTER DELETE ON predictions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION predict_worklist_predictions();
