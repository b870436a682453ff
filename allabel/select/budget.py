"""Budget and stage-size accounting.

* ``--budget 5%`` means round-half-up(5% of the pool), at least 1; ``--budget 120`` is exact.
* Stage sizes follow the ratio by the largest-remainder method: each stage gets
  floor(M * r_i / sum r); the sentences left over go one each to the stages with the largest
  remainders, ties to the earlier stage in ``--order``. So sizes always add up to exactly M
  Example: M = 7 at 1:3:1 -> exact 1.4, 4.2, 1.4 -> floors 1, 4, 1 -> the one left over goes to
  the larger remainder (0.4, a tie of D and U: D comes first) -> 2, 4, 1.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from allabel.core.errors import ConfigError
from allabel.select.stages import ALLABEL_STAGES
from allabel.select.stages import BY_LETTER as STAGE_LETTERS


def parse_budget(text: str, pool_size: int) -> int:
    t = text.strip()
    try:
        if t.endswith("%"):
            pct = Decimal(t[:-1])
            if not (0 < pct <= 100):
                raise ValueError
            m = int((pct * pool_size / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            m = max(m, 1)
        else:
            m = int(t)
            if m <= 0:
                raise ValueError
    except (ValueError, ArithmeticError):
        raise ConfigError(f"bad budget {text!r}: use a count (120) or a percentage (5%)") from None
    if m > pool_size:
        raise ConfigError(f"budget {m} exceeds the pool of {pool_size} sentences")
    return m


def parse_ratio(text: str) -> list[float]:
    try:
        parts = [float(x) for x in text.split(":")]
    except ValueError:
        raise ConfigError(f"bad ratio {text!r}: use e.g. 1:3:1") from None
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise ConfigError(f"bad ratio {text!r}: three non-negative numbers, e.g. 1:3:1")
    return parts


def parse_order(text: str) -> list[str]:
    order = text.strip().upper()
    if sorted(order) != sorted(STAGE_LETTERS):
        raise ConfigError(f"bad order {text!r}: a permutation of D, S, U such as DSU")
    return [STAGE_LETTERS[c] for c in order]


def stage_sizes(m: int, ratio: list[float], order: list[str]) -> list[tuple[str, int]]:
    """[(stage, size)] in execution order; sizes sum to m (largest remainder).

    ``order`` may hold a subset of the stages (ablations such as allabel:DS): the ratio of the
    stages present is kept, 1:3:1 -> D:S = 1:3.
    """
    weight = dict(zip(ALLABEL_STAGES, ratio, strict=True))
    total = sum(weight[s] for s in order)
    if total <= 0:
        raise ConfigError(f"the ratio gives the stages {', '.join(order)} no share of the budget")
    exact = [m * weight[s] / total for s in order]
    sizes = [math.floor(x) for x in exact]
    left = m - sum(sizes)
    by_rem = sorted(range(len(order)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in by_rem[:left]:
        sizes[i] += 1
    return list(zip(order, sizes, strict=True))
