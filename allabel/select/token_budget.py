"""Budgets in tokens: ``--budget 5000t`` (and ``--next 5000t``).

What a person pays for is tokens read and tagged, not sentences: at the same sentence count the
default strategy asks for ~36% more tokens than random. A **token** is counted once, in SQL
(``allabel.sentence_tokens``): the sentence's stored tokens (the corpus tokenisation) when it has
them, else its whitespace-separated tokens.

The rule: each stage ranks as it always does and its picks are taken in rank order until the next
one would exceed the stage's share of the budget (the stage stops there: no shorter sentence
further down is slipped in, so the ranking is not bent towards short sentences). Stage shares
follow ``--ratio`` over what is left: stage i gets left x w_i / (w_i + ... + w_last), so tokens a
stage could not use pass to the later stages and the total is never above the budget and short
of it by less than the next-ranked sentence of the last stage ("within one sentence").
A stage is asked for about as many picks as its share holds at the pool's mean length; when all
fitted it is asked again for twice as many (farthest-first, kNN ranks and uncertainty are
rankings, so the longer answer starts with the shorter one; stage 3's sampled candidates grow
with the request and its cached answers are reused).
"""

from __future__ import annotations

import math
import re

import numpy as np

from allabel.core.errors import ConfigError
from allabel.select.stages.base import Picks, Stage, StageContext
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("rounds")
_TOKENS = re.compile(r"^\s*(\d+)\s*t\s*$", re.IGNORECASE)


def parse(budget: str | None) -> int | None:
    """The token count of a token budget (``5000t``), None for any other budget."""
    if budget is None:
        return None
    m = _TOKENS.match(budget)
    if m is None:
        return None
    n = int(m.group(1))
    if n <= 0:
        raise ConfigError(f"bad budget {budget!r}: a token budget is a positive count, e.g. 5000t")
    return n


def refuse(budget: str | None, where: str) -> None:
    """A clear error where a token budget is not supported."""
    if parse(budget) is not None:
        raise ConfigError(f"{where} takes a count (120) or a share (5%), not a token budget ({budget})")


def counts(conn, ids: list[int]) -> dict[int, int]:
    """Tokens per sentence id (``allabel.sentence_tokens``)."""
    return {r["id"]: r["n"] for r in db.rows(conn, Q.token_counts, {"ids": ids})}


def prefix_within(ranked: list[int], tokens: dict[int, int], budget: float) -> int:
    """How many of ``ranked`` (in order) fit in ``budget`` tokens: stop at the first that would
    exceed it."""
    used = 0
    for i, sid in enumerate(ranked):
        if used + tokens[sid] > budget:
            return i
        used += tokens[sid]
    return len(ranked)


def stage_share(left: int, weights: list[float]) -> float:
    """The current stage's share of the ``left`` tokens: its weight over the weights of it and
    every later stage (``weights[0]`` is the current stage's)."""
    total = sum(weights)
    return left * weights[0] / total if total > 0 else float(left)


def pick_within(stage: Stage, ctx: StageContext, share: float, tokens: dict[int, int]) -> Picks:
    """The stage's ranked picks, cut where the next would exceed ``share`` tokens."""
    free_ids = [s for s, b in zip(ctx.pool, ctx.blocked(), strict=True) if not b]
    if not free_ids or share <= 0:
        return [], []
    mean = float(np.mean([tokens[s] for s in free_ids]))
    n = min(len(free_ids), max(1, math.ceil(share / max(mean, 1.0) * 1.2) + 1))
    while True:
        ids, scores = stage.pick(ctx, n)
        keep = prefix_within(ids, tokens, share)
        if keep < len(ids) or n >= len(free_ids) or len(ids) < n:
            return ids[:keep], scores[:keep]
        n = min(len(free_ids), 2 * n)
