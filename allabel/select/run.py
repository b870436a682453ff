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
from allabel.select import stages
from allabel.select.budget import parse_order, parse_ratio
from allabel.select.stages.similarity import check_source
from allabel.select.strategies import make_strategy
from allabel.store import db, runs
from allabel.store.sqlfiles import queries

Q = queries("select")


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
    out = {**params, "dataset_id": dataset_id, "model": get_settings().embed_model}
    if _uses_llm(p):
        from allabel.llm import get_backend
        from allabel.predict import llm_identity

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
    plan = strategy.plan(strategy.size(p.budget, pool_size), pool_size)
    for name, _ in plan:
        stages.get(name)
    return plan


def _annotate_with_oracle(conn: psycopg.Connection, run_id: int) -> None:
    conn.execute(Q.oracle_entities, {"run_id": run_id})
    conn.execute(Q.oracle_annotations, {"run_id": run_id})


def _unannotated(conn: psycopg.Connection, run_id: int) -> int:
    return db.one(conn, Q.unannotated, {"run_id": run_id})["n"]


def select(p: SelectParams, url: str | None = None, show_progress: bool = True,
           resume_run: int | None = None, workers: int = 1) -> SelectResult:
    """Run (or continue) a selection; a failure marks the run failed with its reason.

    ``workers`` local processes answer stage 3's LLM calls; like ``predict --workers`` it
    changes the speed, never the picks, so it is not part of the run's identity."""
    check_names(dataset=p.dataset, splits=p.pool_splits)
    url = url or db.database_url()
    from allabel.store.locks import single

    job = (f"selection {p.strategy}" + (f" budget {p.budget}" if p.budget is not None else "")
           + f" seed {p.seed} of dataset {p.dataset}"
           + (f" (run {resume_run})" if resume_run is not None else ""))
    with single(f"allabel.select:{p.dataset}:{json.dumps(p.as_dict(), sort_keys=True)}", url, job):
        run_id, status, plan, ds, pool = db.retrying(lambda: _open(p, url, resume_run))
        if status == "done":  # nothing to do: a finished run is left untouched
            with db.connection(url) as conn:
                return _result(conn, run_id, "done")
        with runs.hold(run_id, url) as holder:
            # each attempt re-reads what is committed and runs the stages still missing
            res = db.retrying(lambda: _select(p, url, show_progress, run_id, plan, ds, pool, holder,
                                                 workers))
            runs.check_stop()
            return res


def _open(p: SelectParams, url: str, resume_run: int | None) -> tuple[int, str, list, int, list[int]]:
    """The run (found, created, or the one to resume), its plan, dataset and pool."""
    with db.connection(url) as conn:
        ds = db.dataset_id(conn, p.dataset)
        pool = pool_of(conn, ds, p.pool_splits)
        plan = plan_of(p, len(pool))
        if resume_run is not None:
            run_id, status = resume_run, "running"
        else:
            run = runs.open_run(conn, "selection", ds, identity_params(p, ds))
            run_id, status = run.id, run.status
        return run_id, status, plan, ds, pool


def _select(p: SelectParams, url: str, show_progress: bool, run_id: int, plan: list, ds: int,
            pool: list[int], holder: runs.Holder, workers: int = 1) -> SelectResult:
    """Run the stages of ``plan`` still missing (a stage's picks are committed together), then
    finish: ``done`` once every pick is annotated, else ``awaiting_annotation``."""
    with db.connect(url) as conn:
        ctx = stages.StageContext(conn, url, ds, run_id, pool, p, show_progress, workers)
        timings: dict[str, float] = {}
        for name, size in plan:
            runs.check_stop()  # a stop request is honoured between stages
            stage = stages.get(name)
            chosen = db.rows(conn, Q.selected, {"run_id": run_id})
            have = sum(1 for r in chosen if r["stage"] == stage.name)
            if have >= size:
                continue  # finished before an interruption
            if stage.needs_annotations and not _annotated(conn, run_id, p.oracle):
                holder.finish("awaiting_annotation", {"timings": timings})
                return _result(conn, run_id, "awaiting_annotation")
            t0 = time.perf_counter()
            ctx.set_picked([r["sentence_id"] for r in chosen])
            ids, scores = stage.pick(ctx, size - have)
            _record(conn, run_id, stage.name, len(chosen), size - have, ids, scores)
            timings[stage.name] = round(time.perf_counter() - t0, 3)
            conn.commit()
        return _finish(conn, p, run_id, holder, timings)


def _annotated(conn: psycopg.Connection, run_id: int, oracle: bool) -> bool:
    """Are the picks so far annotated? The oracle annotates them now; else a person must first."""
    if oracle:
        _annotate_with_oracle(conn, run_id)
    waiting = 0 if oracle else _unannotated(conn, run_id)
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
    from allabel.llm.cache import usage

    if p.oracle:
        _annotate_with_oracle(conn, run_id)
    final = "awaiting_annotation" if _unannotated(conn, run_id) else "done"
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
        if status == "done":
            return _result(conn, run_id, "done")
        missing = _unannotated(conn, run_id)
    if missing and not p.oracle:
        raise ConfigError(f"run {run_id} still waits for {missing} annotations "
                          f"(allabel export {run_id} ... then allabel import FILE --run {run_id}; "
                          f"the view annotation_queue lists them)")
    return select(p, url, show_progress, resume_run=run_id, workers=workers)
