"""Selection strategies as small interchangeable classes (as in small-text's query strategies).

A strategy turns a budget M into a plan: the stages to run, in order, with their sizes. The
stages themselves live in diversity.py, similarity.py and uncertainty.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from allabel.errors import ConfigError
from allabel.select.budget import stage_sizes


@dataclass
class Strategy:
    name: str = "base"

    def plan(self, m: int, pool_size: int) -> list[tuple[str, int]]:
        raise NotImplementedError


@dataclass
class ALLabel(Strategy):
    """The three stages: diversity -> similarity -> uncertainty (ratio and order settable)."""

    ratio: tuple[float, float, float] = (1, 3, 1)
    order: tuple[str, ...] = ("diversity", "similarity", "uncertainty")
    name: str = "allabel"

    def plan(self, m: int, pool_size: int) -> list[tuple[str, int]]:
        return [(s, n) for s, n in stage_sizes(m, list(self.ratio), list(self.order)) if n > 0]


@dataclass
class SingleStage(Strategy):
    """A baseline that spends the whole budget on one stage."""

    stage: str = "random"

    def plan(self, m: int, pool_size: int) -> list[tuple[str, int]]:
        return [(self.stage, m)]


@dataclass
class Full(Strategy):
    """Everything annotated: the upper bound every experiment compares with."""

    name: str = "full"

    def plan(self, m: int, pool_size: int) -> list[tuple[str, int]]:
        return [("full", pool_size)]


STRATEGIES = ("allabel", "random", "coreset", "similarity", "uncertainty", "full")


def make_strategy(name: str, ratio: list[float], order: list[str]) -> Strategy:
    if name == "allabel":
        return ALLabel(ratio=tuple(ratio), order=tuple(order))
    if name == "full":
        return Full()
    stage = {"random": "random", "coreset": "diversity", "similarity": "similarity",
             "uncertainty": "uncertainty"}.get(name)
    if stage is None:
        raise ConfigError(f"unknown strategy {name!r}; one of {', '.join(STRATEGIES)}")
    return SingleStage(name=name, stage=stage)
