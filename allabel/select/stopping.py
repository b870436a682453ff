"""The stopping signal of an annotation campaign: is the next round worth paying for?

After each round the quality estimate moves by a *gain* with an interval. With a threshold
``min_gain`` (``allabel rounds --min-gain``, default 0.01 F1 per round):

* **stop** — the gain's upper bound is below ``min_gain`` in this round *and* the one before
  (two consecutive rounds that, at best, bought less than the threshold);
* **continue** — the gain's lower bound is above ``min_gain`` (this round surely paid);
* **undecided** — anything else, including a round without a gain (the first round, or a
  round whose quality is unknown).

Where it misleads (docs/selection.md): the rule sees only the estimate, so an estimate biased
the same way every round (a quality sample unlike the data still to label) passes its bias on;
a gain is per round, so halving the round size halves the gains and stops twice as early in
rounds — scale ``min_gain`` with the round size (or read the cost per +0.01 F1); learning
curves can plateau and climb again (sentences of a new kind arriving, a stage-3 pick that finally
covers a rare label), which a rule that looks two rounds back cannot foresee; and with few
quality sentences the intervals are wide, so the verdict stays "undecided" for a long time —
that is the honest answer, not a failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STOP, CONTINUE, UNDECIDED = "stop", "continue", "undecided"


@dataclass(frozen=True)
class Gain:
    """The change of the quality estimate over the previous round, with its interval."""

    estimate: float
    low: float
    high: float


def verdicts(gains: list[Gain | None], min_gain: float = 0.01) -> list[str]:
    """One verdict per round, from each round's gain (None: no gain known for that round)."""
    out = []
    below_before = False
    for g in gains:
        below = g is not None and g.high < min_gain
        if g is not None and g.low > min_gain:
            out.append(CONTINUE)
        elif below and below_before:
            out.append(STOP)
        else:
            out.append(UNDECIDED)
        below_before = below
    return out


def gain_between(before: tuple[float, float, float] | None,
                 after: tuple[float, float, float] | None) -> Gain | None:
    """The gain between two *independent* estimates (estimate, low, high): the difference of the
    points, its half-width the root of the sum of squared half-widths (normal approximation;
    estimates on the same sentences should use a paired interval instead)."""
    if before is None or after is None:
        return None
    hw = math.hypot((before[2] - before[1]) / 2, (after[2] - after[1]) / 2)
    d = after[0] - before[0]
    return Gain(d, d - hw, d + hw)


def cost_per_point(cost: float | None, gain: Gain | None, point: float = 0.01) -> float | None:
    """What one +``point`` of quality cost in this round (tokens, money); None unless it gained."""
    if cost is None or gain is None or gain.estimate <= 0:
        return None
    return cost / (gain.estimate / point)


def first_stop(verdict_list: list[str]) -> int | None:
    """The 1-based round at which the signal first said stop, or None."""
    return next((i + 1 for i, v in enumerate(verdict_list) if v == STOP), None)
