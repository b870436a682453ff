"""Precision, recall and F1 (strict and partial overlap) per label and micro, each with a 95%
bootstrap interval over sentences.

The point estimates are ``allabel.experiments.evaluate.compute`` on the sample (the DuckDB counting of
``allabel evaluate``); the intervals resample the sample's sentences with replacement (the
multiplicities of ``allabel.experiments.stats.resample_weights``) and recompute every metric from the
per-sentence, per-label counts of ``allabel.experiments.evaluate.per_sentence_label``, which sum exactly to
``compute``'s counts. Sentences are the unit because mentions of one sentence are not
independent (one misread sentence loses several)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from allabel.experiments import evaluate, stats
from allabel.quality.data import Sample

METRICS = ("precision", "recall", "f1", "partial_precision", "partial_recall", "partial_f1")
MIN_GOLD = 30  # below this many gold mentions an interval is too wide to act on
MICRO = "*"
_TP, _NP, _NG, _PP, _PG = range(5)


@dataclass
class Row:
    label: str
    metric: str
    value: float
    low: float | None
    high: float | None
    gold_mentions: int


@dataclass
class Estimate:
    """The quality figures of one source (audit or cross-validation), never mixed with another."""

    source: str
    sentences: int
    gold_mentions: int
    predicted_mentions: int
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, metric: str, label: str = MICRO) -> Row:
        return next(r for r in self.rows if r.metric == metric and r.label == label)

    @property
    def too_few(self) -> bool:
        return self.gold_mentions < MIN_GOLD


def _metrics(c: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric from summed counts ``c[..., 0:5]`` = tp, n_pred, n_gold, pp, pg (0 where
    a denominator is 0, as allabel/experiments/evaluate.py)."""
    def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros(np.shape(b), float), where=b > 0)

    def f1(p: np.ndarray, r: np.ndarray) -> np.ndarray:
        return div(2 * p * r, p + r)

    p, r = div(c[..., _TP], c[..., _NP]), div(c[..., _TP], c[..., _NG])
    pp, pr = div(c[..., _PP], c[..., _NP]), div(c[..., _PG], c[..., _NG])
    return {"precision": p, "recall": r, "f1": f1(p, r), "partial_precision": pp,
            "partial_recall": pr, "partial_f1": f1(pp, pr)}


def counts(s: Sample) -> tuple[np.ndarray, list[str]]:
    """(sentences x labels x 5) counts tp, n_pred, n_gold, pp, pg; and the label order."""
    rows = evaluate.per_sentence_label(*s.tables())
    labels = sorted(set(s.labels))
    li = {lab: j for j, lab in enumerate(labels)}
    si = {sid: i for i, sid in enumerate(sorted(set(s.sentences)))}
    out = np.zeros((len(si), len(labels), 5))
    for r in rows:
        out[si[r["sentence_id"]], li[r["label"]]] = (r["tp"], r["n_pred"], r["n_gold"], r["pp"], r["pg"])
    return out, labels


def score(s: Sample, source: str, resamples: int = stats.RESAMPLES, seed: int = stats.SEED,
          level: float = stats.LEVEL) -> Estimate:
    """The Estimate of ``source`` on sample ``s`` (point values from allabel.experiments.evaluate.compute)."""
    point = {sc.label: sc for sc in evaluate.compute(*s.tables()[:3])}
    c, labels = counts(s)
    n = c.shape[0]
    per_label = np.concatenate([c, c.sum(axis=1, keepdims=True)], axis=1)  # last column: micro
    names = [*labels, MICRO]
    samples: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    if n:
        flat = per_label.reshape(n, -1)
        for w in stats.resample_weights(n, resamples, seed):
            summed = (w @ flat).reshape(-1, len(names), 5)
            for m, v in _metrics(summed).items():
                samples[m].append(v)
    est = Estimate(source, n, int(per_label[:, -1, _NG].sum()), int(per_label[:, -1, _NP].sum()))
    lo_q, hi_q = 50 * (1 - level), 50 * (1 + level)
    bounds = {m: np.percentile(np.concatenate(v), [lo_q, hi_q], axis=0) for m, v in samples.items() if v}
    for j, label in enumerate(names):
        sc = point[label]
        for m in METRICS:
            low = high = None
            if n:
                low, high = float(bounds[m][0, j]), float(bounds[m][1, j])
            est.rows.append(Row(label, m, float(getattr(sc, m)), low, high, int(sc.n_gold)))
    if est.too_few:
        est.notes.append(f"only {est.gold_mentions} annotated mentions (< {MIN_GOLD}): the interval is "
                         f"too wide to act on; annotate more {source} sentences")
    return est
