"""Does the LLM's confidence mean something, and what probability of being right does it stand for?

Every scored mention (audit and cross-validation) is correct (exact span and label in the
annotation) or wrong. On those labels: AUROC of the raw confidence (does it rank correct above
wrong mentions? 0.5 = no), expected calibration error (ECE: 10 equal-width bins, the
mention-weighted mean |share correct − mean confidence|), and a calibration fitted to map
confidence to the probability of being correct, stored for every mention of the run.

Platt scaling (the default): a logistic fit on logit(confidence) — two parameters, steady with
the few hundred mentions an audit gives, and monotone by construction (a fit that would make
higher confidence mean lower probability means the confidence carries no usable signal, and the
calibration falls back to the share correct). Isotonic regression (``method="isotonic"``,
pool adjacent violators) is monotone too and assumes no shape, but with few labels it is a
step function that over-fits its bins (docs/quality.md, "Which calibration" has the evidence).
scikit-learn provides both (it is installed with sentence-transformers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from allabel.core.errors import ConfigError

METHODS = ("platt", "isotonic")
DEFAULT_METHOD = "platt"
BINS = 10
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibration:
    """A fitted monotone map confidence -> probability of being correct."""

    method: str
    params: dict[str, Any]

    def __call__(self, conf: np.ndarray) -> np.ndarray:
        conf = np.asarray(conf, float)
        if self.method == "platt":
            z = self.params["a"] * _logit(conf) + self.params["b"]
            return 1 / (1 + np.exp(-z))
        return np.interp(conf, self.params["x"], self.params["y"])


def fit(conf: np.ndarray, correct: np.ndarray, method: str = DEFAULT_METHOD) -> Calibration:
    """Fit ``method`` on (confidence, correct) pairs; monotone non-decreasing in confidence."""
    from sklearn.isotonic import IsotonicRegression  # deferred: scikit-learn takes a second to import
    from sklearn.linear_model import LogisticRegression  # deferred: scikit-learn, only for calibration

    if method not in METHODS:

        raise ConfigError(f"unknown calibration {method!r}; one of {', '.join(METHODS)}")
    conf, y = np.asarray(conf, float), np.asarray(correct, bool)
    base = float((y.sum() + 1) / (len(y) + 2))  # share correct, smoothed (a Laplace estimate)
    if method == "platt":
        if len(set(y.tolist())) < 2:
            return Calibration("platt", {"a": 0.0, "b": float(_logit(np.array(base)))})
        lr = LogisticRegression(C=1.0).fit(_logit(conf).reshape(-1, 1), y)
        a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        if a < 0:  # higher confidence, lower probability: no usable signal
            a, b = 0.0, float(_logit(np.array(base)))
        return Calibration("platt", {"a": a, "b": b})
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(conf, y)
    return Calibration("isotonic", {"x": [float(v) for v in iso.X_thresholds_],
                                    "y": [float(v) for v in iso.y_thresholds_]})


def auroc(conf: np.ndarray, correct: np.ndarray) -> float | None:
    """Area under the ROC curve of confidence for correct vs wrong mentions (None: one class only)."""
    from sklearn.metrics import roc_auc_score  # deferred: scikit-learn takes a second to import

    y = np.asarray(correct, bool)
    if len(y) == 0 or y.all() or not y.any():
        return None
    return float(roc_auc_score(y, np.asarray(conf, float)))


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = BINS) -> float | None:
    """Expected calibration error over ``bins`` equal-width confidence bins (None: no mention)."""
    conf, y = np.asarray(conf, float), np.asarray(correct, float)
    if len(conf) == 0:
        return None
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() * abs(y[m].mean() - conf[m].mean())
    return float(total / len(conf))


def reliability(conf: np.ndarray, correct: np.ndarray, bins: int = BINS) -> list[tuple[float, float, int]]:
    """(mean confidence, share correct, mentions) per non-empty bin, for the reliability plot."""
    conf, y = np.asarray(conf, float), np.asarray(correct, float)
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    return [(float(conf[idx == b].mean()), float(y[idx == b].mean()), int((idx == b).sum()))
            for b in range(bins) if (idx == b).any()]
