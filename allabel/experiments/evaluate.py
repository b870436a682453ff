"""Entity-level evaluation in DuckDB, reading Postgres over Arrow (ADBC).

Strict match: a predicted mention is correct when sentence, start, end and label all equal a gold
mention. Partial overlap (a second, lenient view): a prediction counts when it overlaps a gold
mention of the same label; a gold mention is found when some same-label prediction overlaps it.
Micro averages (label '*') and per label; the sentences evaluated are those the prediction run
finished (a sentence with no predicted entity still counts: its gold mentions are misses).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from allabel.core.errors import ConfigError
from allabel.store import db, runs
from allabel.store.sqlfiles import queries

Q = queries("evaluate")
DQ = queries("evaluate_duckdb")  # run in DuckDB, not Postgres



def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


@dataclass
class LabelScore:
    label: str
    tp: int
    n_pred: int
    n_gold: int
    precision: float
    recall: float
    f1: float
    partial_precision: float
    partial_recall: float
    partial_f1: float


def compute(gold, pred, labels) -> list[LabelScore]:
    """Metrics from three Arrow tables (or anything DuckDB can scan) in DuckDB."""
    con = duckdb.connect()
    con.register("gold", gold)
    con.register("pred", pred)
    con.register("labels", labels)
    out = []
    for label, tp, n_pred, n_gold, p, r, pp, pr in con.execute(DQ.metrics).fetchall():
        out.append(LabelScore(label, int(tp), int(n_pred), int(n_gold), float(p), float(r),
                              _f1(float(p), float(r)), float(pp), float(pr),
                              _f1(float(pp), float(pr))))
    con.close()
    return out


def _run_tables(cur, run_id: int, with_done: bool = False) -> tuple:
    """(gold, pred, labels[, done sentences]) Arrow tables of a prediction run on an ADBC cursor."""
    names = (Q.gold_of_run, Q.predicted_of_run, Q.labels_of_run) + ((Q.done_sentences_of_run,) if with_done else ())
    tables = []
    for q in names:
        cur.execute(q, (run_id,))
        tables.append(cur.fetch_arrow_table())
    return tuple(tables)


def fetch(run_id: int, url: str | None = None, with_done: bool = False) -> tuple:
    """(gold, pred, labels) Arrow tables of a prediction run, over ADBC (and the finished
    sentences with ``with_done``)."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url or db.database_url()) as c, c.cursor() as cur:
        return _run_tables(cur, run_id, with_done)


def require_finished(run_id: int, sentences: list[int], finished, where: str = "") -> None:
    """Refuse to score ``sentences`` when the run has not finished some of them: scores are read
    from finished predictions only, so an unfinished sentence would silently drop out."""
    wanted = set(sentences)
    missing = wanted - set(finished)
    if missing:
        raise ConfigError(f"{where}prediction run {run_id} has not finished {len(missing)} of the "
                          f"{len(wanted)} sentences to score (e.g. sentence {min(missing)}); `allabel "
                          f"runs` shows its state, and the command that started it resumes it")


def score_on(run_id: int, sentences: list[int], url: str | None = None) -> list[LabelScore]:
    """Scores of a prediction run on ``sentences`` only, not stored.

    Why: a prediction run is shared by every experiment whose cell has the same selection, split,
    k and model, and an experiment with a larger test sample extends it. An experiment cell's
    scores must cover that experiment's sample, not whatever the run holds by now (``evaluations``
    keeps the whole run's)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    gold, pred, labels, done = fetch(run_id, url, with_done=True)
    require_finished(run_id, sentences, done["sentence_id"].to_pylist())
    keep = pa.array(sorted(set(sentences)), type=pa.int64())
    gold, pred = (t.filter(pc.is_in(t["sentence_id"].cast(pa.int64()), value_set=keep)) for t in (gold, pred))
    return compute(gold, pred, labels)


def evaluate_run(run_id: int, against: str = "gold", url: str | None = None) -> tuple[list[LabelScore], float]:
    """Score a prediction run, store it in ``evaluations``; returns (scores, seconds)."""
    if against != "gold":  # another run as the reference is not implemented (docs/evaluation.md)
        raise ConfigError(f"--against {against!r}: only 'gold' is supported (scoring one run "
                          f"against another is not implemented)")
    url = url or db.database_url()
    with db.connection(url) as conn:
        if runs.get(conn, run_id) is None:
            raise ConfigError(f"no run {run_id}")
        # a selection run has predictions too (its stage-3 candidates): never score those
        runs.require_kind(conn, run_id, "prediction")
    t0 = time.perf_counter()
    gold, pred, labels = fetch(run_id, url)
    scores = compute(gold, pred, labels)
    seconds = time.perf_counter() - t0
    with db.connection(url) as conn:
        conn.execute(Q.delete_evaluation, {"run_id": run_id, "against": against})
        rows = [{"run_id": run_id, "against": against, "metric": m, "label": s.label,
                 "value": getattr(s, m)}
                for s in scores for m in ("precision", "recall", "f1", "partial_precision",
                                          "partial_recall", "partial_f1", "tp", "n_pred", "n_gold")]
        with conn.cursor() as cur:
            cur.executemany(Q.insert_evaluation, rows)
        conn.commit()
    return scores, seconds


def micro(scores: list[LabelScore]) -> LabelScore:
    """The micro-averaged row (label '*') of ``compute``'s scores."""
    return next(s for s in scores if s.label == "*")


def micro_f1(scores: list[LabelScore]) -> float:
    return micro(scores).f1


def per_sentence(gold, pred, labels, sentences) -> dict[int, tuple[int, int, int]]:
    """Strict (tp, fp, fn) per sentence from Arrow tables, in DuckDB (``per_sentence`` of
    allabel/sql/queries/evaluate_duckdb.sql). Summed over sentences they give the micro row of
    ``compute``; the bootstrap in allabel/experiments/stats.py resamples them."""
    con = duckdb.connect()
    for name, table in (("gold", gold), ("pred", pred), ("labels", labels), ("sentences", sentences)):
        con.register(name, table)
    rows = con.execute(DQ.per_sentence).fetchall()
    con.close()
    return {int(sid): (int(tp), int(fp), int(fn)) for sid, tp, fp, fn in rows}


def sentence_counts(run_ids: list[int], url: str | None = None) -> dict[int, dict[int, tuple[int, int, int]]]:
    """{run: {sentence: (tp, fp, fn)}} for the finished sentences of prediction runs (one ADBC
    connection for all runs)."""
    import adbc_driver_postgresql.dbapi as adbc

    out = {}
    with adbc.connect(url or db.database_url()) as c, c.cursor() as cur:
        for run_id in run_ids:
            out[run_id] = per_sentence(*_run_tables(cur, run_id, with_done=True))
    return out
