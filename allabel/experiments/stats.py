"""Paired bootstrap confidence intervals for micro F1, resampling test sentences.

Why: a single F1 per strategy on a few hundred test sentences cannot say whether ALLabel beats
random; the variation from *which* test sentences were drawn is as large as the differences we
look for. The test sentences are the resampled unit: every resample draws the n test sentences
with replacement, and every system and every seed is scored on that *same* resample, so the
difference strategy − random is paired (the sentences that are hard for one are hard for the
other). Seeds are pooled: a system's F1 on a resample is the mean over its seeds of the micro F1
of that seed's run; the difference pairs the strategy's seed-s run with random's seed-s run.

Micro F1 is 2·tp / (2·tp + fp + fn) of the summed counts, so it is computed from per-sentence
(tp, fp, fn) counts exactly: a resample is a vector of multiplicities (how often each sentence
was drawn) and the summed counts are one matrix product. Everything is numpy and seeded, so an
interval is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000
SEED = 0
LEVEL = 0.95
_CHUNK = 1_000


@dataclass(frozen=True)
class Interval:
    """A point estimate on the whole sample and its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def verdict(self) -> str:
        """Plain words for a difference: does the interval exclude 0, and on which side?"""
        if self.low > 0:
            return "yes (better)"
        if self.high < 0:
            return "yes (worse)"
        return "no"


def micro_f1(counts: np.ndarray) -> np.ndarray:
    """Micro F1 from summed counts; ``counts[..., 0:3]`` = tp, fp, fn. 0 where nothing to score."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros(np.shape(denom), float), where=denom > 0)


def _weights(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Multiplicity matrices (chunk x n) of ``resamples`` draws of n sentences with replacement.

    The same (n, resamples, seed) always yields the same resamples, so every system compared in
    one report is scored on identical resamples.
    """
    rng = np.random.default_rng(seed)
    left = resamples
    while left > 0:
        b = min(_CHUNK, left)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
        left -= b


def _check(counts: np.ndarray) -> np.ndarray:
    a = np.asarray(counts, dtype=np.float64)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError("counts must be (seeds, sentences, 3) = tp, fp, fn per seed and sentence")
    return a


def seed_f1_samples(counts: np.ndarray, resamples: int = RESAMPLES,
                    seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(F1 per seed on the whole sample (S,), F1 per resample and seed (B, S)).

    Computing these once per system lets a report compare many systems without resampling
    again: with the same (n, resamples, seed) every system sees the same resamples, so paired
    differences are differences of these columns.
    """
    a = _check(counts)
    s, n, _ = a.shape
    flat = a.transpose(1, 0, 2).reshape(n, s * 3)  # one matrix product per chunk (BLAS)
    samples = np.concatenate([micro_f1((w @ flat).reshape(-1, s, 3))
                              for w in _weights(n, resamples, seed)])
    return micro_f1(a.sum(axis=1)), samples


def _interval(estimate: float, samples: np.ndarray, level: float) -> Interval:
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return Interval(float(estimate), float(lo), float(hi))


def interval_of_mean(whole: np.ndarray, samples: np.ndarray, level: float = LEVEL) -> Interval:
    """The mean over seeds (columns) with its percentile interval over resamples (rows)."""
    return _interval(float(whole.mean()), samples.mean(axis=1), level)


def f1_interval(counts: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED,
                level: float = LEVEL) -> Interval:
    """Mean-over-seeds micro F1 of one system with its bootstrap interval.

    ``counts``: (seeds, sentences, 3) per-sentence tp, fp, fn, sentences aligned across seeds.
    """
    return interval_of_mean(*seed_f1_samples(counts, resamples, seed), level=level)


def paired_difference(system: np.ndarray, reference: np.ndarray, resamples: int = RESAMPLES,
                      seed: int = SEED, level: float = LEVEL) -> Interval:
    """F1(system) − F1(reference), both mean over seeds, with a paired bootstrap interval.

    Both arrays are (seeds, sentences, 3) with the same seeds in the same order and the same
    sentences in the same order: row s of each is the run of seed s.
    """
    a, b = _check(system), _check(reference)
    if a.shape != b.shape:
        raise ValueError(f"paired systems need the same seeds and sentences: {a.shape} vs {b.shape}")
    wa, sa = seed_f1_samples(a, resamples, seed)
    wb, sb = seed_f1_samples(b, resamples, seed)
    return interval_of_mean(wa - wb, sa - sb, level)
