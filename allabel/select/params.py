"""The parameters of a selection (``allabel select``'s options): below the stages, which read
them through their :class:`~allabel.select.stages.base.StageContext`, and the run that records
them as its identity (``allabel.select.run.identity_params``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class SelectParams:
    dataset: str
    budget: str | None                 # None only for strategy full (everything)
    strategy: str = "allabel"
    similarity: str = "embedding"     # kNN of stage 2: embedding | bm25
    ratio: str = "1:3:1"
    order: str = "DSU"
    seed: int = 0
    oracle: bool = False
    knn: int = 10                      # K of stage 2
    k: int = 4                         # demonstrations per prompt in stage 3
    uncertainty_candidates: str = "10x"        # all | <f>x (times the stage size) | a count
    pool_splits: list[str] | None = None
    # method options beyond the paper (defaults = the paper's method; see docs/selection.md)
    length_floor: float = 0.0          # stages 1-2 skip sentences shorter than this pool quantile
    uncertainty_score: str = "perplexity"  # stage 3: perplexity (mean) | total (summed NLL) | entities
    # rounds (allabel/select/exclusion.py): False = a round of the dataset's campaign, never
    # picking what another run picked (the command line's default); True = independent (the
    # old behaviour, experiments). Never part of the identity.
    allow_annotated: bool = True
    after_runs: list[int] | None = None  # an experiment's chain: exclude only these runs' picks
    # issue 30 (+clean, +ent; allabel/select/pool_filters.py, stages/entity_aware.py)
    dedupe: bool = False               # identical normalised texts are candidates once
    stage3_filters: bool = False       # stage 3's candidates obey the floor, dedupe and prior too
    unparseable: str = "first"         # stage 3: unparseable answers first (paper) | last
    entity_prior: float = 0.0          # stages skip sentences below this label-prior quantile
    type_coverage: bool = False        # stage 3: one pick per label the annotations lack

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


#: options beyond the paper, left out of a run's identity at these values (the values every
#: run made before the option existed had), so existing runs and experiments keep their keys
OPTION_DEFAULTS: dict[str, Any] = {
    "length_floor": 0.0, "uncertainty_score": "perplexity", "dedupe": False,
    "stage3_filters": False, "unparseable": "first", "entity_prior": 0.0, "type_coverage": False}
