"""A selection run: plan the stages, skip those already recorded, let each stage pick, record
the picks, finish.

The strategy (strategies.py) turns the budget into a plan [(stage, size)]; each stage is an
object of the registry in ``stages/`` with ``pick(context, n)``. This module knows no stage by
name. A run is identified by its parameters (same parameters = same run, so repeating a command
or an experiment continues instead of starting over). Picks are committed stage by stage; a
stage that ``needs_annotations`` (uncertainty) runs only once the earlier picks are annotated:
with ``oracle`` gold is copied in, otherwise the run stops at ``awaiting_annotation`` until
``allabel select --resume RUN``. A run is ``done``
only when every pick is annotated: a baseline, or ALLabel after its last stage, waits at
``awaiting_annotation`` (all picks chosen) until the annotations are imported and ``--resume``
confirms them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError
from allabel.core.limits import check_names
from allabel.llm import get_backend
from allabel.llm.cache import usage
from allabel.predict import llm_identity
from allabel.select import exclusion, rounds, stages, token_budget
from allabel.select.budget import parse_order, parse_ratio
from allabel.select.params import OPTION_DEFAULTS, SelectParams
from allabel.select.stages.similarity import check_source
from allabel.select.strategies import make_strategy
from allabel.select.variants import variant_name
from allabel.store import db, runs
from allabel.store.locks import single
from allabel.store.sqlfiles import queries

Q = queries("select")


@dataclass
class SelectResult:
    run_id: int
    status: str
    selected: int
    by_stage: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    perplexity_known_share: float | None = None  # stage 3: candidates with a known perplexity
    uncertainty_candidates: int | None = None


def identity_params(p: SelectParams, dataset_id: int) -> dict[str, Any]:
    """Everything that changes a selection's result (its identity, see allabel.store.runs): the
    parameters, the embedding model, and, when a stage asks the LLM (uncertainty), the LLM's
    backend, model, endpoint (masked) and prompt version — another model is another run."""
    params = p.as_dict()
    for name, default in OPTION_DEFAULTS.items():
        if params[name] == default:  # runs made before these options keep their identity
            del params[name]
    del params["allow_annotated"]  # not identity: exclusion.open_selection keys rounds
    if params["after_runs"] is None:
        del params["after_runs"]
    out = {**params, "dataset_id": dataset_id, "model": get_settings().embed_model}
    if _uses_llm(p):
        out["llm"] = llm_identity(get_backend())
    return out


def _uses_llm(p: SelectParams) -> bool:
    """Does any planned stage ask the LLM? Then the LLM is part of the run's identity (another
    model is another selection). For allabel and uncertainty this is what it always was; the
    ablations (allabel:SU, ...) were keyed without the LLM before 2026-11-25 and now name it."""
    strategy = make_strategy(p.strategy, parse_ratio(p.ratio), parse_order(p.order))
    return any(stages.get(name).asks_llm for name, n in strategy.plan(10**6, 10**6) if n > 0)


def pool_of(conn: psycopg.Connection, dataset_id: int, splits: list[str] | None) -> list[int]:
    """The selectable sentence ids (ascending): the pool splits, never ``test``."""
    if splits is None:
        splits = [r["split"] for r in db.rows(conn, Q.splits, {"dataset_id": dataset_id})]
    if "test" in splits:
        raise ConfigError("the test split is never part of the selection pool")
    pool = [r["id"] for r in db.rows(conn, Q.pool, {"dataset_id": dataset_id, "splits": splits})]
    if not pool:
        raise ConfigError(f"no pool sentences in splits {splits}")
    return pool


def plan_of(p: SelectParams, pool_size: int) -> list[tuple[str, int]]:
    """[(stage, size)] in execution order; a clear error for bad parameters, before any work."""
    strategy = make_strategy(p.strategy, parse_ratio(p.ratio), parse_order(p.order))
    check_source(p.similarity)
    if token_budget.parse(p.budget) is not None and strategy.takes_budget:
        # sizes are known only as each stage fills its share of the tokens (token_budget.py)
        return [(name, None) for name, _ in strategy.plan(10**6, pool_size)]
    plan = strategy.plan(strategy.size(p.budget, pool_size), pool_size)
    for name, _ in plan:
        stages.get(name)
    return plan


def picks(conn: psycopg.Connection, run_id: int | None) -> list[dict[str, Any]]:
    """The run's picks so far (sentence_id, stage), in rank order; none for a run not made yet."""
    return db.rows(conn, Q.selected, {"run_id": run_id}) if run_id is not None else []


def missing(plan: list[tuple[str, int | None]],
            chosen: list[dict[str, Any]]) -> list[tuple[int, stages.Stage, int | None]]:
    """The stages of ``plan`` still short of their size, in order: (index in the plan, stage,
    picks it needs) — what a run has still to pick after ``chosen`` (its picks so far; a stage's
    picks are committed together, so an interrupted run resumes at its first missing stage). A
    stage of a token budget has no size (None): it is done once it has picked. The run and its
    cost estimate (``allabel.select.estimate``) walk the plan with this one loop."""
    out = []
    for i, (name, size) in enumerate(plan):
        stage = stages.get(name)
        have = sum(1 for r in chosen if r["stage"] == stage.name)
        if size is None:
            if not have:
                out.append((i, stage, None))
        elif have < size:
            out.append((i, stage, size - have))
    return out


def _annotate_with_oracle(conn: psycopg.Connection, run_id: int) -> None:
    conn.execute(Q.oracle_entities, {"run_id": run_id})
    conn.execute(Q.oracle_annotations, {"run_id": run_id})


def unannotated(conn: psycopg.Connection, run_id: int) -> int:
    """How many of the run's picks wait for an annotation."""
    return db.one(conn, Q.unannotated, {"run_id": run_id})["n"]


def select(p: SelectParams, url: str | None = None, show_progress: bool = True,
           resume_run: int | None = None, workers: int = 1, next_round: bool = False) -> SelectResult:
    """Run (or continue) a selection; a failure marks the run failed with its reason.

    ``workers`` local processes answer stage 3's LLM calls; like ``predict --workers`` it
    changes the speed, never the picks, so it is not part of the run's identity.
    ``next_round`` (``--next``): a new round once the newest run of these parameters is done."""
    check_names(dataset=p.dataset, splits=p.pool_splits)
    url = url or db.database_url()

    name = variant_name(p.strategy, {"length_floor": p.length_floor,
                                     "uncertainty_score": p.uncertainty_score})
    job = (f"selection {name}" + (f" budget {p.budget}" if p.budget is not None else "")
           + f" seed {p.seed} of dataset {p.dataset}"
           + (f" (run {resume_run})" if resume_run is not None else ""))
    with single(lock_key(p), url, job):
        run_id, status, plan, ds, pool = db.retrying(lambda: _open(p, url, resume_run, next_round))
        if status == "done":  # nothing to do: a finished run is left untouched
            with db.connection(url) as conn:
                return _result(conn, run_id, "done")
        with runs.hold(run_id, url) as holder:
            # each attempt re-reads what is committed and runs the stages still missing
            res = db.retrying(lambda: _select(p, url, show_progress, run_id, plan, ds, pool, holder,
                                                 workers))
            runs.check_stop()
            return res


def lock_key(p: SelectParams) -> str:
    """The job lock of a selection: its parameters without the round options at their defaults
    (the key of every existing command is unchanged; ``allow_annotated`` never counts, so an
    independent and a campaign copy of one command are refused to run at once)."""
    out = p.as_dict()
    del out["allow_annotated"]
    if out["after_runs"] is None:
        del out["after_runs"]
    return f"allabel.select:{p.dataset}:{json.dumps(out, sort_keys=True)}"


def _open(p: SelectParams, url: str, resume_run: int | None,
          next_round: bool = False) -> tuple[int, str, list, int, list[int]]:
    """The run (found, created, or the one to resume), its plan, dataset and pool."""
    with db.connection(url) as conn:
        ds = db.dataset_id(conn, p.dataset)
        pool = pool_of(conn, ds, p.pool_splits)
        plan = plan_of(p, len(pool))
        if resume_run is not None:
            run_id, status = resume_run, "running"
        else:
            run = exclusion.open_selection(conn, p, ds, identity_params(p, ds), next_round)
            run_id, status = run.id, run.status
        return run_id, status, plan, ds, pool


def _select(p: SelectParams, url: str, show_progress: bool, run_id: int, plan: list, ds: int,
            pool: list[int], holder: runs.Holder, workers: int = 1) -> SelectResult:
    """Run the stages of ``plan`` still missing (a stage's picks are committed together), then
    finish: ``done`` once every pick is annotated, else ``awaiting_annotation``."""
    with db.connect(url) as conn:
        ctx = stages.StageContext(conn, url, ds, run_id, pool, p, show_progress, workers)
        ctx.campaign = campaign = exclusion.campaign_of(conn, ds, run_id, p)
        plan = rounds.fit_plan(conn, p, ds, run_id, pool, plan, campaign)
        tokens = token_budget.parse(p.budget) if plan and plan[0][1] is None else None
        # seconds per stage, kept across the commands of a run (a stage runs once): usage's wall s
        timings: dict[str, float] = dict((db.one(conn, Q.run_stats, {"run_id": run_id})["stats"]
                                          or {}).get("timings", {}))
        for i, stage, need in missing(plan, picks(conn, run_id)):
            runs.check_stop()  # a stop request is honoured between stages
            if stage.needs_annotations and not _annotated(conn, run_id, p.oracle):
                holder.finish("awaiting_annotation", {"timings": timings})
                return _result(conn, run_id, "awaiting_annotation")
            t0 = time.perf_counter()
            chosen = picks(conn, run_id)
            ctx.set_picked(campaign.taken + [r["sentence_id"] for r in chosen])
            if tokens is not None:  # this stage's share of the tokens still unspent
                ids, scores = rounds.pick_tokens(ctx, stage, plan[i:], tokens, chosen)
                need = len(ids)
            else:
                ids, scores = stage.pick(ctx, need)
            _record(conn, run_id, stage.name, len(chosen), need, ids, scores)
            timings[stage.name] = round(time.perf_counter() - t0, 3)
            conn.commit()
        return _finish(conn, p, run_id, holder, timings)


def _annotated(conn: psycopg.Connection, run_id: int, oracle: bool) -> bool:
    """Are the picks so far annotated? The oracle annotates them now; else a person must first."""
    if oracle:
        _annotate_with_oracle(conn, run_id)
    waiting = 0 if oracle else unannotated(conn, run_id)
    conn.commit()
    return waiting == 0


def _record(conn: psycopg.Connection, run_id: int, stage: str, rank0: int, need: int,
            ids: list[int], scores: list[float | None]) -> None:
    """Insert a stage's picks after the ``rank0`` earlier ones; refuse a short stage (never a
    silently smaller selection)."""
    if len(ids) != need or len(set(ids)) != need:
        raise ConfigError(f"stage {stage} found only {len(set(ids))} selectable sentences for "
                          f"{need} picks (the pool is too small, or --length-floor leaves too few)")
    with conn.cursor() as cur:
        cur.executemany(Q.insert_selection, [
            {"run_id": run_id, "sentence_id": sid, "stage": stage, "rank": rank0 + i + 1,
             "score": sc} for i, (sid, sc) in enumerate(zip(ids, scores, strict=True))])


def _finish(conn: psycopg.Connection, p: SelectParams, run_id: int, holder: runs.Holder,
            timings: dict[str, float]) -> SelectResult:
    """Every pick chosen: ``done`` only once every pick is annotated, else a person is due."""

    if p.oracle:
        _annotate_with_oracle(conn, run_id)
    final = "awaiting_annotation" if unannotated(conn, run_id) else "done"
    u = usage(conn, run_id)[0]
    scored = db.one(conn, Q.count_scored, {"run_id": run_id})
    conn.commit()
    holder.finish(final, {"timings": timings, "llm_calls": u["calls"],
                           "llm_requests": u["requests"], "prompt_tokens": u["prompt_tokens"],
                           "completion_tokens": u["completion_tokens"],
                           "uncertainty_scored": scored["scored"],
                           "uncertainty_with_perplexity": scored["with_perplexity"]})
    res = _result(conn, run_id, final)
    res.seconds = timings
    return res


def _result(conn: psycopg.Connection, run_id: int, status: str) -> SelectResult:
    rows = db.rows(conn, Q.selected, {"run_id": run_id})
    by: dict[str, int] = {}
    for r in rows:
        by[r["stage"]] = by.get(r["stage"], 0) + 1
    stats = db.one(conn, Q.run_stats, {"run_id": run_id})["stats"] or {}
    return SelectResult(run_id, status, len(rows), by,
                        perplexity_known_share=stats.get("perplexity_known_share"),
                        uncertainty_candidates=stats.get("uncertainty_candidates"))


def _run(run_id: int, url: str | None) -> tuple[SelectParams, str]:
    """A selection run's parameters and status; a clear error for any other run."""
    with db.connection(url) as conn:
        run = runs.require_kind(conn, run_id, "selection")
    fields = set(SelectParams.__dataclass_fields__)
    return SelectParams(**{k: v for k, v in run["params"].items() if k in fields}), run["status"]


def run_params(run_id: int, url: str | None = None) -> SelectParams:
    """The parameters a selection run was started with."""
    return _run(run_id, url)[0]


def resume(run_id: int, url: str | None = None, show_progress: bool = True,
           workers: int = 1) -> SelectResult:
    """Continue a selection run once its picks are annotated (or at once with the oracle)."""
    p, status = _run(run_id, url)
    with db.connection(url) as conn:
        p = exclusion.restore(conn, run_id, p)
        if status == "done":
            return _result(conn, run_id, "done")
        missing = unannotated(conn, run_id)
    if missing and not p.oracle:
        raise ConfigError(f"run {run_id} still waits for {missing} annotations "
                          f"(allabel labelstudio push {run_id}, annotate, allabel labelstudio pull "
                          f"{run_id}; or allabel export {run_id} ... then allabel import FILE --run "
                          f"{run_id}; the view annotation_queue lists them)")
    return select(p, url, show_progress, resume_run=run_id, workers=workers)
