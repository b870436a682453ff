"""``allabel quality``: the labeller's estimated quality from the audit and from cross-validation,
side by side and never mixed; the confidence's AUROC and ECE, a calibration stored for every
mention of the run, the precision above a threshold, a reliability plot; everything stored in
``quality_estimates`` (``bi.quality``) so a dashboard shows it next to the entity tables."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError
from allabel.experiments import evaluate
from allabel.llm import get_backend
from allabel.predict import DemoPool
from allabel.quality import calibration as cal
from allabel.quality import scoring
from allabel.quality.audit import annotated_audit_ids, audit_sample
from allabel.quality.crossval import FOLDS, crossval_sample
from allabel.quality.data import Sample, mentions
from allabel.quality.plot import reliability_plot
from allabel.quality.scoring import MICRO, Estimate, score
from allabel.store import db, runs
from allabel.store.sqlfiles import queries

Q = queries("quality")
THRESHOLD = 0.8
AUDIT, CV = "audit", "cross-validation"
CV_BIAS_NOTE = ("cross-validation scores the sentences selection picked (diverse, representative, "
                "uncertain), not a random sample of the corpus: read it as a trend, the audit as the estimate")


@dataclass
class Confidence:
    """How well the mentions' confidence separates correct from wrong, before and after calibration."""

    source: str
    mentions: int
    correct: int
    auroc: float | None
    auroc_calibrated: float | None
    ece: float | None
    ece_calibrated: float | None


@dataclass
class QualityReport:
    run_id: int
    dataset: str
    estimates: list[Estimate] = field(default_factory=list)
    confidence: list[Confidence] = field(default_factory=list)
    calibration: dict[str, Any] | None = None
    threshold: float = THRESHOLD
    threshold_source: str | None = None
    precision_above: float | None = None
    scored_above: int = 0
    run_mentions: int = 0
    run_mentions_above: int = 0
    plot: str | None = None
    llm_calls: int = 0
    llm_requests: int = 0
    fold_runs: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scored(s: Sample) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) of the sample's mentions that have a confidence."""
    gold = s.tables()[0]
    ok = evaluate.entity_correct(gold, s.mention_table())
    rows = [m for m in s.mentions if m["confidence"] is not None]
    return (np.array([m["confidence"] for m in rows], float),
            np.array([ok[m["entity_id"]] for m in rows], bool))


def _miss_rate(samples: Any, url: str) -> float:
    """Annotated mentions the labeller missed (no exact match) per whitespace token of the scored
    sentences: review's estimate of how many entities a sentence hides."""
    missed = tokens = 0
    with db.connection(url) as conn:
        for s in samples:
            c, _ = scoring.counts(s)
            missed += int((c[..., 2] - c[..., 0]).sum())
            tokens += sum(r["n_tokens"] for r in db.rows(conn, Q.token_counts, {"ids": s.sentences}))
    return missed / tokens if tokens else 0.0


def _resolve_run(conn, dataset: str, predictions: int | None) -> tuple[int, dict[str, Any]]:
    ds = db.dataset_id(conn, dataset)
    if predictions is None:
        predictions = db.scalar(conn, Q.latest_prediction_run, {"dataset_id": ds})
        if predictions is None:
            raise ConfigError(f"dataset {dataset!r} has no prediction run to measure: run `allabel predict "
                              f"--dataset {dataset} ...` first")
    run = runs.require_kind(conn, predictions, "prediction")
    if run["dataset_id"] != ds:
        raise ConfigError(f"prediction run {predictions} belongs to another dataset than {dataset!r}")
    if "quality_of" in run["params"]:
        raise ConfigError(f"run {predictions} is one of quality's own runs (of run "
                          f"{run['params']['quality_of']}); measure that run instead")
    return ds, run


def quality(dataset: str, predictions: int | None = None, folds: int = FOLDS,
            threshold: float = THRESHOLD, method: str = cal.DEFAULT_METHOD, url: str | None = None,
            show_progress: bool = True, plot: bool = True) -> QualityReport:
    """Estimate, calibrate and store the quality of a prediction run (default: the dataset's latest)."""

    if method not in cal.METHODS:
        raise ConfigError(f"unknown calibration {method!r}; one of {', '.join(cal.METHODS)}")
    if not 0 < threshold < 1:
        raise ConfigError(f"--threshold {threshold}: a probability between 0 and 1")
    if folds < 2:
        raise ConfigError(f"--folds {folds}: at least 2")
    url = url or db.database_url()
    with db.connection(url) as conn:
        ds, run = _resolve_run(conn, dataset, predictions)
        n_audit = len(annotated_audit_ids(conn, ds))
        n_annotated = len(DemoPool.from_annotated(conn, ds, with_review=False).demos)
    if n_audit == 0 and n_annotated < 2:
        raise ConfigError(f"dataset {dataset!r} has no annotated audit sentence and fewer than 2 annotated "
                          f"sentences: nothing to measure against; draw an audit with `allabel select "
                          f"--dataset {dataset} --strategy audit --budget 100`, annotate and import it")
    backend = get_backend()
    rep = QualityReport(run["id"], dataset, threshold=threshold)
    samples: dict[str, Sample] = {}
    a, st = audit_sample(run, url, backend, show_progress)
    if a is not None:
        samples[AUDIT] = a
        if st is not None:
            rep.llm_calls += st.calls
            rep.llm_requests += st.requests
    else:
        rep.notes.append(f"no audit: `allabel select --dataset {dataset} --strategy audit --budget 100` "
                         f"draws one (the unbiased estimate)")
    c, fs = crossval_sample(run, url, backend, folds, show_progress)
    if c is not None:
        samples[CV] = c
        rep.llm_calls += fs.calls
        rep.llm_requests += fs.requests
        rep.fold_runs = fs.runs
    for source, s in samples.items():
        est = score(s, source)
        if source == CV:
            est.notes.append(CV_BIAS_NOTE)
        rep.estimates.append(est)
    _calibrate(rep, samples, method, url, plot)
    _store(rep, url)
    return rep


def _calibrate(rep: QualityReport, samples: dict[str, Sample], method: str, url: str, plot: bool) -> None:
    """Fit on every scored mention, report AUROC/ECE per source, store a probability per mention."""
    scored = {src: _scored(s) for src, s in samples.items()}
    conf = np.concatenate([v[0] for v in scored.values()]) if scored else np.zeros(0)
    ok = np.concatenate([v[1] for v in scored.values()]) if scored else np.zeros(0, bool)
    if len(conf) == 0:
        rep.notes.append("no scored mention has a confidence (the backend gave no log-probabilities): "
                         "no calibration")
        return
    calib = cal.fit(conf, ok, method)
    # what review needs beside the map: how often an empty answer is right, and a mention's base rate
    calib.params.update(miss_rate_per_token=_miss_rate(samples.values(), url),
                        base=float((ok.sum() + 1) / (len(ok) + 2)))
    for src, (cf, y) in scored.items():
        p = calib(cf)
        rep.confidence.append(Confidence(src, len(cf), int(y.sum()), cal.auroc(cf, y), cal.auroc(p, y),
                                         cal.ece(cf, y), cal.ece(p, y)))
    src = AUDIT if AUDIT in scored and len(scored[AUDIT][0]) else next(iter(scored))
    cf, y = scored[src]
    above = calib(cf) >= rep.threshold
    rep.threshold_source, rep.scored_above = src, int(above.sum())
    rep.precision_above = float(y[above].mean()) if above.any() else None
    with db.connection(url) as conn:
        ments = [m for m in mentions(conn, rep.run_id, None) if m["confidence"] is not None]
        probs = calib(np.array([m["confidence"] for m in ments], float)) if ments else np.zeros(0)
        conn.execute(Q.delete_calibration, {"run_id": rep.run_id})
        cid = db.scalar(conn, Q.insert_calibration, {
            "run_id": rep.run_id, "method": calib.method, "params": Jsonb(calib.params),
            "n_entities": len(conf), "n_correct": int(ok.sum())})
        with conn.cursor() as cur:
            cur.executemany(Q.insert_entity_calibration, [
                {"entity_id": m["entity_id"], "calibration_id": cid, "probability": float(p)}
                for m, p in zip(ments, probs, strict=True)])
        conn.commit()
    rep.calibration = {"method": calib.method, "params": calib.params, "mentions": len(conf),
                       "correct": int(ok.sum())}
    rep.run_mentions = len(ments)
    rep.run_mentions_above = int((probs >= rep.threshold).sum())
    if plot:
        path = Path(get_settings().home) / "reports" / f"quality-run-{rep.run_id}.png"
        reliability_plot(conf, calib(conf), ok,
                         f"Reliability of run {rep.run_id} ({rep.dataset}): {len(conf)} scored mentions, "
                         f"{calib.method}", path)
        rep.plot = str(path)


def _store(rep: QualityReport, url: str) -> None:
    """Replace the run's rows of quality_estimates (one transaction)."""
    rows = []
    for e in rep.estimates:
        for r in e.rows:
            rows.append({"run_id": rep.run_id, "source": e.source, "label": r.label, "metric": r.metric,
                         "value": r.value, "low": r.low, "high": r.high, "sentences": e.sentences,
                         "gold_mentions": r.gold_mentions})
    by_source = {e.source: e for e in rep.estimates}
    for c in rep.confidence:
        e = by_source[c.source]
        for metric in ("auroc", "auroc_calibrated", "ece", "ece_calibrated"):
            rows.append({"run_id": rep.run_id, "source": c.source, "label": MICRO, "metric": metric,
                         "value": getattr(c, metric), "low": None, "high": None,
                         "sentences": e.sentences, "gold_mentions": e.gold_mentions})
    if rep.threshold_source is not None:
        e = by_source[rep.threshold_source]
        for metric, value in ((f"precision_above_{rep.threshold:g}", rep.precision_above),
                              (f"mentions_above_{rep.threshold:g}", float(rep.run_mentions_above))):
            rows.append({"run_id": rep.run_id, "source": rep.threshold_source, "label": MICRO,
                         "metric": metric, "value": value, "low": None, "high": None,
                         "sentences": e.sentences, "gold_mentions": e.gold_mentions})
    with db.connection(url) as conn:
        conn.execute(Q.delete_estimates, {"run_id": rep.run_id})
        with conn.cursor() as cur:
            cur.executemany(Q.insert_estimate, rows)
        conn.commit()
