"""Stage 1, diversity: warm-start core-set (k-center greedy) on the pool's embeddings.

The algorithm is ``coreset.py`` (one pick at a time, or in blocks above ``exact_max_pool``
sentences: the same picks); this stage feeds it the pool's vectors and what earlier stages picked.
"""

from __future__ import annotations

import numpy as np

from allabel.core.config import get_settings
from allabel.select.stages.base import Picks, Stage, StageContext
from allabel.select.stages.coreset import coreset, coreset_blocked


class Diversity(Stage):
    """Stage 1 (D): farthest-first on the pool's embeddings, continuing from earlier picks."""

    name = "diversity"
    letter = "D"
    reads_vectors = True

    def pick(self, ctx: StageContext, n: int) -> Picks:
        X = ctx.vectors()
        already = ctx.picked_order
        # same picks; above the exact size the N vectors are read once per block of picks
        run = coreset_blocked if len(ctx.pool) > get_settings().exact_max_pool else coreset
        idx, scores = run(X, n, already=already if len(already) else None,
                          excluded=np.flatnonzero(ctx.blocked()))
        return [ctx.pool[i] for i in idx], list(scores)
