"""The audit stage: a seeded uniform random sample of the pool sentences no selection run has
picked (so none is annotated or waiting for a person). Its picks are audit sentences
(allabel/select/audit.py): measured on, never shown as demonstrations."""

from __future__ import annotations

import random

from allabel.select.audit import taken_sentence_ids
from allabel.select.stages.base import Picks, Stage, StageContext


class Audit(Stage):
    name = "audit"
    uses_seed = True

    def pick(self, ctx: StageContext, n: int) -> Picks:
        taken = taken_sentence_ids(ctx.conn, ctx.dataset_id)
        allowed = [sid for sid, own in zip(ctx.pool, ctx.picked, strict=True)
                   if not own and sid not in taken]
        ids = random.Random(ctx.params.seed).sample(allowed, min(n, len(allowed)))
        return ids, [None] * len(ids)
