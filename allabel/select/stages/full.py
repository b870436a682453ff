"""The ``full`` reference: every pool sentence not picked yet, in id order (the upper bound every
experiment compares with; its size is the pool, see ``strategies.Full``)."""

from __future__ import annotations

from allabel.select.stages.base import Picks, Stage, StageContext


class Full(Stage):
    name = "full"

    def pick(self, ctx: StageContext, n: int) -> Picks:
        ids = ctx.unpicked()[:n]
        return ids, [None] * len(ids)
