"""Selection strategies as small interchangeable classes (as in small-text's query strategies).

A strategy turns a budget M into a plan: the stages to run, in order, with their sizes. The
stages themselves live in diversity.py, similarity.py and uncertainty.py.

Strategy names (parsed here and nowhere else; ``allabel select --strategy`` and ``allabel
experiment --strategies`` both accept them):

* ``allabel`` — the three stages in ``--order`` (default DSU) at ``--ratio`` (default 1:3:1);
* ``random``, ``coreset`` (diversity only), ``similarity``, ``uncertainty`` — one stage spends the
  whole budget; ``full`` — everything annotated;
* ``allabel:<stages>`` — ablations: the letters D (diversity), S (similarity), U (uncertainty) say
  which stages run and in which order, e.g. ``allabel:DS`` (no uncertainty), ``allabel:SU``,
  ``allabel:UDS``. The ratio of the stages present is kept (1:3:1 -> DS 1:3, DU 1:1, SU 3:1); the
  letters replace ``--order``. Letters are case-insensitive and stored upper-case.

Any of these may carry method variants, ``+long`` and ``+total`` (allabel/select/variants.py), e.g.
``allabel:DS+long``.
"""

from __future__ import annotations

from dataclasses import dataclass

from allabel.errors import ConfigError
from allabel.select.budget import STAGE_LETTERS, stage_sizes


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
# what `allabel experiment --ablations` adds: each single stage, each pair, the other orders
ABLATIONS = ("coreset", "similarity", "uncertainty",
             "allabel:DS", "allabel:DU", "allabel:SU",
             "allabel:DUS", "allabel:SDU", "allabel:SUD", "allabel:UDS", "allabel:USD")
_SINGLE = {"random": "random", "coreset": "diversity", "similarity": "similarity",
           "uncertainty": "uncertainty"}


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
    variants (``+long``, ``+total``: allabel/select/variants.py) are checked and kept as given."""
    from allabel.select.variants import split_variant

    base, *mods = name.strip().split("+")
    out = "+".join([_canonical_base(base), *(m.strip().lower() for m in mods)])
    split_variant(out)  # unknown variants are refused here, before anything runs
    return out


def make_strategy(name: str, ratio: list[float], order: list[str]) -> Strategy:
    """The strategy of a name (without ``+variants``: those are SelectParams options); ``ratio``
    always applies to allabel and its ablations, ``order`` only to plain ``allabel`` (the letters
    of ``allabel:XY`` are its order)."""
    n = _canonical_base(name)
    if n == "allabel":
        return ALLabel(ratio=tuple(ratio), order=tuple(order))
    if n.startswith("allabel:"):
        return ALLabel(name=n, ratio=tuple(ratio),
                       order=tuple(STAGE_LETTERS[c] for c in n.split(":", 1)[1]))
    if n == "full":
        return Full()
    return SingleStage(name=n, stage=_SINGLE[n])
