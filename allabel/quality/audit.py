"""The audit estimate: a prediction run's answers on the dataset's annotated audit sentences,
scored against their annotations.

The audit is a uniform random sample of the sentences no selection picked (allabel/select/audit.py),
so the score is unbiased for that pool — the sentences the LLM labels. Audit sentences the run
has not answered (an audit drawn from another split) are predicted under a companion run with the
run's own demonstrations, k, model and prompt (``params.quality_of`` = the run; resumable, and
cached: a re-run asks nothing)."""

from __future__ import annotations

from typing import Any

import psycopg

from allabel.predict import DemoPool, predict_sentences
from allabel.predict.step import PredictStats
from allabel.quality.data import Sample, answers, labels_of, sample
from allabel.quality.runs import check_same_llm, companion_params
from allabel.store import db, runs
from allabel.store.sqlfiles import queries

Q = queries("quality")


def annotated_audit_ids(conn: psycopg.Connection, dataset_id: int) -> list[int]:
    return [r["sentence_id"] for r in db.rows(conn, Q.annotated_audit_sentences, {"dataset_id": dataset_id})]


def audit_sample(run: dict[str, Any], url: str, backend: Any,
                 show_progress: bool = True) -> tuple[Sample | None, PredictStats | None]:
    """(the audit Sample, the companion run's prediction stats or None); (None, None) when the
    dataset has no annotated audit sentence."""
    with db.connection(url) as conn:
        ids = annotated_audit_ids(conn, run["dataset_id"])
        if not ids:
            return None, None
        have = sorted(answers(conn, run["id"], ids))
        missing = sorted(set(ids) - set(have))
        labels = labels_of(conn, run["id"])
        st = None
        if missing:
            check_same_llm(run, backend)
            pool = DemoPool.resolve(conn, run["dataset_id"], run["params"]["demos"])
            companion = runs.open_run(conn, "prediction", run["dataset_id"],
                                      companion_params(run, pool.source, "audit")).id
    if missing:
        st = predict_sentences(companion, missing, pool, run["params"]["k"], url, show_progress)
    with db.connection(url) as conn:
        return sample(conn, {run["id"]: have, **({companion: missing} if missing else {})}, labels), st
