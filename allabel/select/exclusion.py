"""A selection as a round of the dataset's annotation campaign: what it may not pick again, what
it continues from, and which run a repeated command opens.

**Taken** (never picked again): every sentence another selection run of the dataset picked —
annotated (an ``annotations`` row needs a ``selections`` row, so imported and oracle annotations
count) or still waiting, whatever that run's status (a failed run's picks may be in an
annotator's hands; delete the run to release them). Audit picks (``stage = 'audit'``) are taken
too, but never teach: they are left out of stage 3's demonstrations. An experiment's chain of
rounds (``after_runs``) takes only the picks of its own earlier rounds, so that independent
cells on one dataset stay independent.

**Continues from**: the stages see taken sentences as picked before them
(``StageContext.set_picked``): stage 1's farthest-first folds them into its max-similarity state
(its first pick is the candidate farthest from everything taken, no fresh seed), stage 2 and the
baselines never rank them, stage 3 never scores them and prompts with every annotation in scope
(:func:`demo_pool`).

**Identity.** ``allow_annotated`` (the Python default, what experiments and old code get: each
selection independent) is never part of a run's identity, so every existing run keeps its key.
A campaign selection (the command line's default) whose dataset has nothing taken yet is keyed
exactly as before too (its picks are the same). Once something is taken, a new selection is
round n (``"round": n`` in its parameters, n = 1 + the runs that picked something): repeating the
command opens the newest run with the same parameters (round or not) instead — ``--next`` opens
a new round once that one is ``done``. How a run treats the others' picks is kept in
``runs.stats.campaign`` (not identity), so ``--resume`` continues it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError
from allabel.predict.demos import DemoPool
from allabel.store import db, runs
from allabel.store.sqlfiles import queries

Q = queries("rounds")


@dataclass
class Campaign:
    """How one selection run treats the dataset's other selection runs."""

    allow_annotated: bool = True          # True: independent of every other run (the old way)
    after_runs: list[int] | None = None   # an explicit chain (experiment rounds): only these
    taken: list[int] = field(default_factory=list)  # sentence ids no stage may pick

    @property
    def excludes(self) -> bool:
        return not self.allow_annotated or self.after_runs is not None


def taken(conn: psycopg.Connection, dataset_id: int, run_id: int | None,
          after_runs: list[int] | None) -> list[int]:
    """Sentence ids picked by the dataset's other selection runs (or by ``after_runs`` only)."""
    return [r["sentence_id"] for r in db.rows(conn, Q.taken, {
        "dataset_id": dataset_id, "run_id": run_id, "after_runs": after_runs})]


def campaign_of(conn: psycopg.Connection, dataset_id: int, run_id: int, p: Any) -> Campaign:
    """The run's campaign with its taken set as committed now (re-read by every attempt)."""
    c = Campaign(p.allow_annotated, p.after_runs)
    if c.excludes:
        c.taken = taken(conn, dataset_id, run_id, c.after_runs)
    return c


def open_selection(conn: psycopg.Connection, p: Any, dataset_id: int, ident: dict[str, Any],
                   next_round: bool = False) -> runs.RunRef:
    """The run a ``select`` command works on (see the module docstring). Commits."""
    if not Campaign(p.allow_annotated, p.after_runs).excludes or p.after_runs is not None:
        run = runs.open_run(conn, "selection", dataset_id, ident)
    else:
        runs.reconcile(conn)
        same = db.one(conn, Q.latest_same, {"dataset_id": dataset_id, "params": Jsonb(ident)})
        if same is not None and not (next_round and same["status"] == "done"):
            run = runs.RunRef(same["id"], same["status"])
        elif not taken(conn, dataset_id, None, None):
            run = runs.open_run(conn, "selection", dataset_id, ident)  # round 1: the old key
        else:
            n = 1 + db.one(conn, Q.runs_with_picks, {"dataset_id": dataset_id})["n"]
            run = runs.open_run(conn, "selection", dataset_id, {**ident, "round": n})
    conn.execute(Q.mark_campaign, {"run_id": run.id, "stats": Jsonb({"campaign": {
        "allow_annotated": p.allow_annotated, "after_runs": p.after_runs}})})
    conn.commit()
    return run


def restore(conn: psycopg.Connection, run_id: int, p: Any) -> Any:
    """``p`` with the campaign settings the run was opened with (``--resume``); runs made before
    rounds existed were independent."""
    c = db.one(conn, Q.run_campaign, {"run_id": run_id})["campaign"] or {}
    return replace(p, allow_annotated=c.get("allow_annotated", True),
                   after_runs=c.get("after_runs", p.after_runs))


def free_count(pool: list[int], c: Campaign) -> int:
    """Pool sentences a campaign selection may still pick (before its own picks)."""
    gone = set(c.taken)
    return sum(1 for s in pool if s not in gone)


def check_room(m: int, free: int, own: int) -> None:
    """A round larger than what is left is refused (never a silently smaller round)."""
    if m > free + own:
        raise ConfigError(f"a selection of {m} sentences exceeds the {free + own} pool sentences "
                          f"not yet annotated or waiting in another run (--allow-annotated "
                          f"ignores the other runs)")


def check_embedded(conn: psycopg.Connection, dataset: str, dataset_id: int, pool: list[int]) -> None:
    """Stages 1-2 read every pool sentence's vector: sentences ingested since the last round
    must be embedded first (a clear error with the command)."""
    missing = db.one(conn, Q.unembedded, {"ids": pool, "model": get_settings().embed_model})["n"]
    if missing:
        raise ConfigError(f"{missing} pool sentences of dataset {dataset} have no embedding "
                          f"(ingested since they were last embedded?)\n"
                          f"next: allabel embed --dataset {dataset}")


def demo_pool(ctx: Any) -> Any:
    """Stage 3's demonstrations: the run's own annotated picks and, in a campaign, every other
    annotation in scope (audit picks excluded); the latest annotation of a sentence wins."""

    pool = DemoPool.from_run(ctx.conn, ctx.run_id)
    c: Campaign | None = ctx.campaign
    if c is None or not c.excludes:
        return pool
    with ctx.conn.cursor(row_factory=dict_row) as cur:
        other = DemoPool._load(ctx.dataset_id, pool.source, cur.execute(Q.campaign_demos, {
            "dataset_id": ctx.dataset_id, "after_runs": c.after_runs}))
    return DemoPool(pool.dataset_id, pool.source, {**other.demos, **pool.demos})
