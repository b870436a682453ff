"""Planning one round: fit the plan to what is left of the pool, and spend a token budget stage
by stage.

A round of the campaign (exclusion.py) may pick only what no other run took: a count or share
larger than that is refused, ``full`` takes what is left, and the stages that read vectors need
the grown pool embedded (sentences ingested since the last round are candidates like any other).
A token budget (token_budget.py) leaves the plan's sizes open; each stage then takes its share
of the tokens still unspent.
"""

from __future__ import annotations

from typing import Any

from allabel.core.errors import ConfigError
from allabel.select import stages, token_budget
from allabel.select.budget import parse_ratio
from allabel.select.exclusion import Campaign, check_embedded, check_room, free_count
from allabel.select.stages.base import Picks, Stage, StageContext
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("select")


def fit_plan(conn, p: Any, dataset_id: int, run_id: int, pool: list[int],
             plan: list[tuple[str, int | None]], campaign: Campaign) -> list[tuple[str, int | None]]:
    """The plan as this run can realise it (unchanged for an independent selection)."""
    own = {r["sentence_id"] for r in db.rows(conn, Q.selected, {"run_id": run_id})}
    free = free_count(pool, campaign) - len(own & set(pool)) if campaign.excludes else len(pool)
    tokens = token_budget.parse(p.budget) if plan and plan[0][1] is None else None
    if campaign.excludes:
        if any(stages.get(s).reads_vectors for s, _ in plan):
            check_embedded(conn, p.dataset, dataset_id, pool)
        if free == 0 and not own:
            raise ConfigError("every pool sentence is annotated or waiting in another selection "
                              "run: ingest new sentences (then allabel embed), or --allow-annotated")
        if [s for s, _ in plan] == [stages.Full.name]:
            plan = [(stages.Full.name, free + len(own))]
        if tokens is None:
            check_room(sum(n or 0 for _, n in plan), free, len(own))
    if tokens is not None and not own:
        gone = set(campaign.taken)
        have = sum(token_budget.counts(conn, [s for s in pool if s not in gone]).values())
        if tokens > have:
            raise ConfigError(f"token budget {tokens} exceeds the {have} tokens of the pool "
                              f"sentences still selectable")
    return plan


def weight(p: Any, stage: str) -> float:
    """A stage's share of a token budget: its ``--ratio`` weight (1 for a one-stage baseline)."""
    ratio = dict(zip(stages.ALLABEL_STAGES, parse_ratio(p.ratio), strict=True))
    return ratio.get(stage, 1.0)


def pick_tokens(ctx: StageContext, stage: Stage, rest: list[tuple[str, Any]], tokens: int,
                chosen: list[dict[str, Any]]) -> Picks:
    """This stage's picks under the token budget: its share of what earlier stages left."""
    counts = token_budget.counts(ctx.conn, ctx.pool)
    extra = [r["sentence_id"] for r in chosen if r["sentence_id"] not in counts]
    if extra:
        counts.update(token_budget.counts(ctx.conn, extra))
    left = tokens - sum(counts[r["sentence_id"]] for r in chosen)
    share = token_budget.stage_share(left, [weight(ctx.params, s) for s, _ in rest])
    return token_budget.pick_within(stage, ctx, share, counts)
