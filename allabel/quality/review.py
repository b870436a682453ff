"""``allabel review``: the LLM-labelled sentences most likely to hold an error, for a person to
correct first.

Order: answers the parser could not read first, then the highest probability that the sentence
holds an error, 1 − Π p_i · exp(−λ · tokens): every mention i is right with its calibrated
probability p_i (the lowest calibrated confidence weighs most), and a missed entity is as likely
as the calibration sample's misses per token λ make it (long sentences hide more); ties go to
the higher perplexity. Only sentences no selection
run has picked are offered (nothing annotated or waiting twice). The picks are a selection run
of strategy ``review`` (stage ``review``), so the usual round trip stores the corrections:
``allabel import FILE --run REVIEW_RUN`` or ``allabel labelstudio push/pull REVIEW_RUN``. A
correction is a human annotation: ``bi.current_mentions`` shows it instead of the LLM's mentions
(latest annotation wins; every mention stays in ``bi.entity_mentions``), and ``--demos
annotated`` takes corrected sentences as demonstrations."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from allabel.annotate.exporter import ExportResult, _finish, _record, _writer
from allabel.core.errors import ConfigError
from allabel.store import db, runs
from allabel.store.sqlfiles import queries

Q = queries("quality")
BAD_PARSE = ("unparseable",)  # a partial answer is ordered by its confidence like any other


@dataclass
class ReviewResult:
    run_id: int          # the review (selection) run
    predictions: int
    picked: int
    annotated: int
    status: str
    export: ExportResult | None = None


def order(candidates: list[dict[str, Any]], miss_rate: float, base: float) -> list[tuple[int, float]]:
    """[(sentence id, probability it holds an error)], most likely wrong first (an unparseable
    answer: 1). ``candidates`` rows carry ``probabilities`` (calibrated, one per mention; None
    where a mention has no confidence: ``base`` is used), ``n_tokens``, ``parse_status`` and
    ``perplexity``; ``miss_rate``: missed entities per token in the calibration sample."""
    keyed = []
    for c in candidates:
        if c["parse_status"] in BAD_PARSE:
            risk = 1.0
        else:
            right = float(np.prod([base if p is None else p for p in c["probabilities"]]))
            risk = 1.0 - right * math.exp(-miss_rate * c["n_tokens"])
        ppl = c["perplexity"] if c["perplexity"] is not None else 0.0
        keyed.append(((-risk, -ppl, c["sentence_id"]), c["sentence_id"], risk))
    keyed.sort()
    return [(sid, risk) for _, sid, risk in keyed]


def review(predictions: int, budget: int, fmt: str | None = None, out: TextIO | None = None,
           url: str | None = None) -> ReviewResult:
    """Pick (once) and export the ``budget`` sentences of run ``predictions`` to review first."""
    if budget < 1:
        raise ConfigError("--budget: at least 1 sentence")
    url = url or db.database_url()
    with db.connection(url) as conn:
        run = runs.require_kind(conn, predictions, "prediction")
        if "quality_of" in run["params"]:
            raise ConfigError(f"run {predictions} is one of quality's own runs; review run "
                              f"{run['params']['quality_of']} instead")
        ds = run["dataset_id"]
        calib = db.one(conn, Q.calibration_of, {"run_id": predictions})
        if calib is None:
            raise ConfigError(f"run {predictions} has no calibration: review orders by calibrated "
                              f"confidence; run `allabel quality --predictions {predictions}` first")
        # dataset and budget as a selection run names them: `select --resume REVIEW` then says
        # what it waits for, like any selection run
        rev = runs.open_run(conn, "selection", ds, {
            "dataset_id": ds, "dataset": db.one(conn, Q.dataset_name, {"dataset_id": ds})["name"],
            "strategy": "review", "predictions": predictions, "budget": str(budget),
            "calibration": calib["id"]})
        picks = db.one(conn, Q.review_picks, {"run_id": rev.id})
        if picks["picked"] == 0:
            cands = db.rows(conn, Q.review_candidates, {"run_id": predictions, "dataset_id": ds})
            if not cands:
                raise ConfigError(f"run {predictions} has no finished sentence left to review (every one "
                                  f"is picked by a selection run already)")
            p = calib["params"]
            ranked = order(cands, p.get("miss_rate_per_token", 0.0), p.get("base", 0.5))[:budget]
            with conn.cursor() as cur:
                cur.executemany(Q.insert_review_pick, [
                    {"run_id": rev.id, "sentence_id": sid, "rank": i + 1, "score": risk}
                    for i, (sid, risk) in enumerate(ranked)])
            picks = db.one(conn, Q.review_picks, {"run_id": rev.id})
        status = "done" if picks["annotated"] == picks["picked"] else "awaiting_annotation"
        conn.execute(Q.set_status, {"run_id": rev.id, "status": status})
        conn.commit()
        res = ReviewResult(rev.id, predictions, picks["picked"], picks["annotated"], status)
        if fmt is not None and out is not None:
            res.export = export_review(conn, rev.id, predictions, ds, fmt, out)
        return res


def export_review(conn, run_id: int, predictions: int, dataset_id: int, fmt: str, out: TextIO) -> ExportResult:
    """The review picks in rank order, the prediction run's mentions as pre-annotations (Label
    Studio ``predictions``, scored with the calibrated probability)."""
    writer = _writer(fmt, out)
    dataset = db.one(conn, Q.dataset_name, {"dataset_id": dataset_id})["name"]
    for r in db.rows(conn, Q.review_records, {"run_id": run_id, "predictions": predictions}):
        meta = {"dataset": dataset, "run_id": run_id, "stage": r["stage"], "rank": r["rank"],
                "prediction_run": predictions}
        writer.write(_record(r, "llm", meta))
    return _finish(writer, conn, dataset_id)
