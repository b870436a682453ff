"""What every experiment cell and every round of an oracle campaign does once its selection is
made: predict the experiment's fixed test sample with the selection's annotations as
demonstrations, and score it. One home, so a cell (``experiment.py``) and a round
(``rounds.py``) are predicted and scored the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from allabel.experiments.evaluate import evaluate_run, micro_f1, score_on
from allabel.predict import DemoPool, enqueue, prediction_run, process
from allabel.store import db, runs


def predict_sample(url: str, dataset_id: int, test_split: str, k: int, backend: Any,
                   sample: list[int], workers: int,
                   demos: Callable[[psycopg.Connection], DemoPool]) -> tuple[DemoPool, int, float]:
    """(demonstration pool, prediction run, micro F1 on ``sample``): the sample predicted with
    the pool ``demos`` returns (resumable, cached), the whole run evaluated for ``evaluations``,
    and the cell's own score computed on the sample only (a shared run may hold more sentences)."""

    def prepare() -> tuple[DemoPool, int]:
        with db.connection(url) as conn:
            pool = demos(conn)
            pred = prediction_run(conn, dataset_id, test_split, pool, k, backend)
            enqueue(conn, pred, sample)
        return pool, pred

    pool, pred = db.retrying(prepare)
    process(pred, pool, k, url, workers, show_progress=False)
    runs.check_stop()
    db.retrying(lambda: evaluate_run(pred, url=url))
    f1 = micro_f1(db.retrying(lambda: score_on(pred, sample, url)))
    return pool, pred, f1
