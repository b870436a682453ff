"""The random baseline: a reproducible sample (``--seed``) of the sentences not picked yet.

With ``--length-floor`` (``random+long``) it samples only among sentences at least as long as the
pool's quantile: the control that tells whether a ``+long`` method wins by what it picks or only
by picking longer sentences (more tokens annotated for the same number of sentences)."""

from __future__ import annotations

import random

from allabel.select.stages.base import Picks, Stage, StageContext


class Random(Stage):
    name = "random"
    uses_seed = True

    def pick(self, ctx: StageContext, n: int) -> Picks:
        blocked = ctx.blocked()  # earlier picks (and short sentences with a length floor)
        allowed = [sid for sid, b in zip(ctx.pool, blocked, strict=True) if not b]
        # too few allowed: a short stage, which run.py refuses with a clear error
        ids = random.Random(ctx.params.seed).sample(allowed, min(n, len(allowed)))
        return ids, [None] * len(ids)
