"""The selection stages, one file each, and the registry that maps a stage name to its object.

* ``diversity.py`` — stage 1 (D): farthest-first core-set on embeddings (``farthest.py``: the
  same picks in blocks, for large pools);
* ``similarity.py`` — stage 2 (S): sum of kNN ranks, by embedding (``knn.py``: the approximate
  index for large pools) or BM25;
* ``uncertainty.py`` — stage 3 (U): the LLM's least certain answers;
* ``random.py`` and ``full.py`` — the baselines' stages.

Every stage is a :class:`~allabel.select.stages.base.Stage` with ``pick(context, n)``; its name
(the value of ``selections.stage``) is spelled in its class and nowhere else.
"""

from __future__ import annotations

from allabel.core.errors import ConfigError
from allabel.select.stages.base import Picks, Stage, StageContext
from allabel.select.stages.diversity import Diversity
from allabel.select.stages.full import Full
from allabel.select.stages.random import Random
from allabel.select.stages.similarity import Similarity
from allabel.select.stages.uncertainty import Uncertainty

STAGES: dict[str, Stage] = {s.name: s for s in (Diversity(), Similarity(), Uncertainty(), Random(), Full())}
#: ALLabel's three stages in the order of ``--ratio`` (diversity:similarity:uncertainty)
ALLABEL_STAGES: tuple[str, ...] = (Diversity.name, Similarity.name, Uncertainty.name)
#: their letters in ``--order`` and ``allabel:<letters>``
BY_LETTER: dict[str, str] = {STAGES[s].letter: s for s in ALLABEL_STAGES}


def get(name: str) -> Stage:
    """The stage called ``name``; a clear error for a name no stage has."""
    try:
        return STAGES[name]
    except KeyError:
        raise ConfigError(f"unknown selection stage {name!r}; one of {', '.join(STAGES)}") from None


__all__ = ["ALLABEL_STAGES", "BY_LETTER", "STAGES", "Picks", "Stage", "StageContext", "get"]
