"""The random baseline: a reproducible sample (``--seed``) of the sentences not picked yet."""

from __future__ import annotations

import random

from allabel.select.stages.base import Picks, Stage, StageContext


class Random(Stage):
    name = "random"

    def pick(self, ctx: StageContext, n: int) -> Picks:
        ids = random.Random(ctx.params.seed).sample(ctx.unpicked(), n)
        return ids, [None] * len(ids)
