"""What a stage may not pick beyond the earlier picks and the length floor (issue 30): duplicate
texts (``dedupe``, allabel/select/dedupe.py) and sentences the entity prior puts low for every
label (``entity_prior``, allabel/select/entity_prior.py). Both are off at their defaults, which
keeps every strategy that existed before them (and its run identity) exactly as it was."""

from __future__ import annotations

from typing import Any

import numpy as np

from allabel.select.dedupe import pool_duplicates
from allabel.select.entity_prior import pool_priors, prior_blocked


def extra_blocked(ctx: Any) -> np.ndarray:
    """The mask (over ``ctx.pool``) of duplicates and low-prior sentences; all False by default.
    ``ctx`` is an allabel.select.stages.base.StageContext."""
    p = ctx.params
    out = np.zeros(len(ctx.pool), bool)
    if getattr(p, "dedupe", False):
        out |= pool_duplicates(ctx.conn, ctx.pool)
    q = getattr(p, "entity_prior", 0.0)
    if q > 0:
        _, priors = pool_priors(ctx.conn, ctx.dataset_id, ctx.vectors())
        out |= prior_blocked(priors, q)
    return out
