"""Selection strategies as small interchangeable classes (as in small-text's query strategies).

A strategy turns a budget into a plan: how many sentences to select (``size``), then the stages to
run, in order, with their sizes (``plan``). The stages themselves live in ``stages/``. ``full``
is a strategy like the others: it takes no budget because its size is the pool.

Strategy names (parsed here and nowhere else; ``allabel select --strategy`` and ``allabel
experiment --strategies`` both accept them):

* ``allabel`` — the three stages in ``--order`` (default DSU) at ``--ratio`` (default 1:3:1);
* ``random``, ``coreset`` (diversity only), ``similarity``, ``uncertainty`` — one stage spends the
  whole budget; ``full`` — everything annotated; ``audit`` — a uniform random sample of the
  sentences no run picked, to measure the labeller (never a demonstration; docs/quality.md);
* ``allabel:<stages>`` — ablations: the letters D (diversity), S (similarity), U (uncertainty) say
  which stages run and in which order, e.g. ``allabel:DS`` (no uncertainty), ``allabel:SU``,
  ``allabel:UDS``. The ratio of the stages present is kept (1:3:1 -> DS 1:3, DU 1:1, SU 3:1); the
  letters replace ``--order``. Letters are case-insensitive and stored upper-case.

Any of these may carry method variants, ``+long``, ``+total``, ``+entities``, ``+clean`` and ``+ent``
(allabel/select/variants.py), e.g.
``allabel:DS+long``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from allabel.core.errors import ConfigError
from allabel.select import stages
from allabel.select.budget import STAGE_LETTERS, parse_budget, stage_sizes
from allabel.select.variants import split_variant

FULL = "full"        # the strategy that annotates the whole pool: every experiment's reference
WHOLE_POOL = "full"  # the budget of an experiment cell whose strategy takes none (full's)


@dataclass
class Strategy:
    name: str = "base"
    #: False: the strategy sizes itself (full: the whole pool) and refuses a budget
    takes_budget: ClassVar[bool] = True

    def size(self, budget: str | None, pool_size: int) -> int:
        """How many sentences to select from a pool of ``pool_size`` for ``--budget``."""
        if budget is None:
            raise ConfigError(f"strategy {self.name} needs a --budget: a count (120) or a share "
                              f"of the pool (5%)")
        return parse_budget(budget, pool_size)

    def budgets(self, budgets: list[str]) -> list[str]:
        """An experiment's budgets for this strategy: each of ``budgets``, or the one cell of a
        strategy that takes no budget (labelled ``WHOLE_POOL``)."""
        return list(budgets) if self.takes_budget else [WHOLE_POOL]

    def cell_budget(self, label: str) -> str | None:
        """The ``--budget`` an experiment cell's budget ``label`` stands for."""
        return label if self.takes_budget else None

    def stage_names(self) -> tuple[str, ...]:
        """The stages this strategy may run, in order."""
        raise NotImplementedError

    def plan(self, m: int, pool_size: int) -> list[tuple[str, int]]:
        raise NotImplementedError


@dataclass
class ALLabel(Strategy):
    """The three stages: diversity -> similarity -> uncertainty (ratio and order settable)."""

    ratio: tuple[float, float, float] = (1, 3, 1)
    order: tuple[str, ...] = stages.ALLABEL_STAGES
    name: str = "allabel"

    def stage_names(self) -> tuple[str, ...]:
        return tuple(self.order)

    def plan(self, m: int, pool_size: int) -> list[tuple[str, int]]:
        return [(s, n) for s, n in stage_sizes(m, list(self.ratio), list(self.order)) if n > 0]


@dataclass
class SingleStage(Strategy):
    """A baseline that spends the whole budget on one stage."""

    stage: str = stages.Random.name

    def stage_names(self) -> tuple[str, ...]:
        return (self.stage,)

    def plan(self, m: int, pool_size: int) -> list[tuple[str, int]]:
        return [(self.stage, m)]


@dataclass
class Full(SingleStage):
    """Everything annotated: the upper bound every experiment compares with. Its size is the
    pool, so it takes no budget (an experiment runs it once per seed)."""

    name: str = FULL
    stage: str = stages.Full.name
    takes_budget: ClassVar[bool] = False

    def size(self, budget: str | None, pool_size: int) -> int:
        """The pool, whatever ``budget`` says: the command line refuses a budget for a strategy
        that ``takes_budget`` is False for, and runs once recorded with one still resume."""
        return pool_size


# one-stage baselines: strategy name -> its stage
_SINGLE = {"random": stages.Random.name, "coreset": stages.Diversity.name,
           "similarity": stages.Similarity.name, "uncertainty": stages.Uncertainty.name,
           "audit": stages.Audit.name}
STRATEGIES = ("allabel", *_SINGLE, FULL)
# what `allabel experiment --ablations` adds: each single stage, each pair, the other orders
ABLATIONS = ("coreset", "similarity", "uncertainty",
             "allabel:DS", "allabel:DU", "allabel:SU",
             "allabel:DUS", "allabel:SDU", "allabel:SUD", "allabel:UDS", "allabel:USD")


def _canonical_base(name: str) -> str:
    base, sep, letters = name.strip().partition(":")
    base = base.strip().lower()
    if not sep:
        if base in STRATEGIES:
            return base
    elif base == "allabel":
        letters = letters.strip().upper()
        if letters and len(set(letters)) == len(letters) and set(letters) <= set(STAGE_LETTERS):
            return f"allabel:{letters}"
        raise ConfigError(f"bad strategy {name!r}: after 'allabel:' give the stages to run in "
                          f"order, each of D, S, U at most once (e.g. allabel:DS, allabel:UDS)")
    raise ConfigError(f"unknown strategy {name!r}; one of {', '.join(STRATEGIES)} or "
                      f"allabel:<stages> such as allabel:DS or allabel:SDU")


def canonical(name: str) -> str:
    """The one spelling of a strategy name (``Allabel:ds+long`` -> ``allabel:DS+long``); a clear
    error for anything else. Canonical names keep run and experiment keys stable. Method
    variants (``+long``, ``+total``, ``+entities``, ``+clean``, ``+ent``: allabel/select/variants.py) are
    checked and kept as given."""

    base, *mods = name.strip().split("+")
    out = "+".join([_canonical_base(base), *(m.strip().lower() for m in mods)])
    split_variant(out)  # unknown variants are refused here, before anything runs
    return out


def make_strategy(name: str, ratio: list[float] | None = None,
                  order: list[str] | None = None) -> Strategy:
    """The strategy of a name (without ``+variants``: those are SelectParams options); ``ratio``
    (default 1:3:1) always applies to allabel and its ablations, ``order`` (default DSU) only to
    plain ``allabel`` (the letters of ``allabel:XY`` are its order)."""
    n = _canonical_base(name)
    r = tuple(ratio) if ratio is not None else ALLabel.ratio
    if n == "allabel":
        return ALLabel(ratio=r, order=tuple(order) if order is not None else stages.ALLABEL_STAGES)
    if n.startswith("allabel:"):
        return ALLabel(name=n, ratio=r, order=tuple(STAGE_LETTERS[c] for c in n.split(":", 1)[1]))
    if n == FULL:
        return Full()
    return SingleStage(name=n, stage=_SINGLE[n])
