"""Stage 3's ranking beyond the paper (issue 30): where unparseable answers go, and type coverage.

The paper's ranking (``unparseable = "first"``, no coverage; uncertainty.py) puts an answer that
could not be parsed ahead of every parsed one (score +infinity). On a corpus with headings that
made stage 3 pick ``Abstract``, ``Figure 1`` and ``Materials and Methods``: the small model fails
to answer exactly the sentences with nothing to find. The rule here (``unparseable = "last"``,
``+clean``/``+ent``): **an unparseable answer ranks after every parsed answer that has a score**
— among themselves by the perplexity of the tokens they have, highest first — and answers
without a perplexity come last (ties always by sentence id). Its stored score is that
perplexity, no longer ``Infinity``.

Type coverage (``type_coverage``, ``+ent``): every label of the dataset should appear among the
demonstrations. The labels the run's annotations hold so far are covered; for each label still
missing (alphabetical) the best-ranked candidate whose LLM answer names it is taken first, then
the rest by rank. The LLM's answers are the ones stage 3 already paid for; no gold is read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

Row = dict  # one row of select.sql's answer_uncertainty


def rank_key(sid: int, score: float | None, unparseable: bool) -> tuple[int, float, int]:
    """Sort key: parsed answers with a score first (highest score first), then unparseable
    answers (highest perplexity first), then unknown uncertainty; ties by sentence id."""
    if score is None:
        return 2, 0.0, sid
    return (1 if unparseable else 0), -score, sid


def ranked(scores: dict[int, float | None], unparseable: set[int]) -> list[int]:
    """The candidates in rank order under the ``last`` rule."""
    return sorted(scores, key=lambda c: rank_key(c, scores[c], c in unparseable))


def with_coverage(order: list[int], missing: Iterable[str], named: dict[int, set[str]],
                  n: int) -> list[int]:
    """The first ``n`` of ``order``, after one candidate per missing label (its best-ranked
    candidate whose answer names the label, when there is one)."""
    first: list[int] = []
    for label in sorted(missing):
        hit = next((c for c in order if label in named.get(c, set()) and c not in first), None)
        if hit is not None and len(first) < n:
            first.append(hit)
    rest = [c for c in order if c not in first]
    return (first + rest)[:n]


def unparseable_score(perplexity: float | None) -> float | None:
    """The stored score of an unparseable answer under the ``last`` rule: its perplexity."""
    return None if perplexity is None or math.isnan(perplexity) else perplexity
