"""Experiments: for every (strategy, budget, seed) select with the oracle, predict the test split
(or a reproducible sample of it) with demonstrations from that selection, evaluate.

Everything is recorded in Postgres and keyed by parameters, so a stopped experiment resumes where
it stopped: finished cells are skipped, selection and prediction runs continue, and the LLM cache
makes repeated prompts free.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from psycopg.types.json import Jsonb

from allabel.core.errors import ConfigError
from allabel.core.progress import bar as progress_bar
from allabel.core.progress import note
from allabel.experiments.cell import predict_sample
from allabel.experiments.evaluate import micro, score_on
from allabel.experiments.rounds import run_rounds
from allabel.llm import get_backend
from allabel.predict import DemoPool
from allabel.select.params import SelectParams
from allabel.select.run import select
from allabel.select.strategies import STRATEGIES, Strategy, canonical, make_strategy
from allabel.select.variants import split_variant
from allabel.store import db, runs
from allabel.store.locks import single
from allabel.store.sqlfiles import queries

Q = queries("experiment")


@dataclass
class ExperimentParams:
    dataset: str
    budgets: list[str] = field(default_factory=lambda: ["1%", "5%", "10%"])
    strategies: list[str] = field(default_factory=lambda: list(STRATEGIES))
    seeds: int = 3
    test_sample: int | None = None
    k: int = 4
    test_split: str = "test"
    uncertainty_candidates: str = "10x"
    knn: int = 10
    pool_splits: list[str] | None = None
    # --rounds R --round-size N: R oracle rounds per strategy and seed (experiment_rounds.py)
    rounds: int | None = None
    round_size: str | None = None


def canonical_params(p: ExperimentParams) -> ExperimentParams:
    """The same experiment with one spelling per strategy (``allabel+long`` and its aliases are
    one cell), as it is stored and keyed."""
    return replace(p, strategies=list(dict.fromkeys(canonical(s) for s in p.strategies)))


def identity(p: ExperimentParams, backend: Any) -> dict[str, Any]:
    """Everything that makes an experiment another one: its canonical parameters and the LLM
    (hashed by ``allabel.store.runs.config_key``, as runs are); ``run_experiment`` and its cost
    estimate find an experiment by this one key."""
    out = {**asdict(canonical_params(p)), "backend": backend.name, "model": backend.model}
    for name in ("rounds", "round_size"):  # experiments made before rounds keep their key
        if out[name] is None:
            del out[name]
    return out


def finished_cells(conn, p: ExperimentParams, backend: Any) -> set[tuple[str, str, int]]:
    """(strategy, budget, seed) of the experiment's finished cells; none before it first ran."""
    found = db.one(conn, Q.find, {"config_key": runs.config_key(identity(p, backend))})
    if found is None:
        return set()
    return {(c["strategy"], c["budget"], c["seed"])
            for c in db.rows(conn, Q.cells, {"experiment_id": found["id"]}) if c["status"] == "done"}


def cells(p: ExperimentParams) -> list[tuple[str, str, int]]:
    """(strategy, budget, seed) of every cell; a strategy that takes no budget (full) has one
    cell per seed, its budget labelled by the strategy (strategies.WHOLE_POOL)."""
    out = []
    for strategy in p.strategies:
        for budget in _strategy(strategy).budgets(p.budgets):
            for seed in range(p.seeds):
                out.append((strategy, budget, seed))
    return out


def _strategy(name: str) -> Strategy:
    return make_strategy(split_variant(name)[0])


def test_sample(conn, dataset_id: int, p: ExperimentParams) -> list[int]:
    ids = [r["id"] for r in db.rows(conn, Q.test_ids, {"dataset_id": dataset_id, "split": p.test_split})]
    if not ids:
        raise ConfigError(f"the dataset has no {p.test_split!r} split to evaluate on")
    if p.test_sample is None or p.test_sample >= len(ids):
        return ids
    return sorted(random.Random(12345).sample(ids, p.test_sample))


def run_experiment(p: ExperimentParams, url: str | None = None, show_progress: bool = True,
                   max_cells: int | None = None, workers: int = 1) -> int:
    """Run (or continue) the experiment; returns its id. ``max_cells`` stops early (tests).

    ``workers`` is how many local processes predict each cell's test sentences; it is not part
    of the experiment's identity (results do not depend on it), so it can change between resumes.
    Cells run seed by seed (`full` first, then smallest budget first), so a stopped experiment has a complete
    table for its first seeds.
    """
    p = canonical_params(p)
    if p.test_split != "test" and (p.pool_splits is None or p.test_split in p.pool_splits):
        raise ConfigError(f"evaluating on {p.test_split!r}: give --pool-splits without it "
                          f"(e.g. --pool-splits train), so no evaluated sentence is in the pool")
    if (p.rounds is None) != (p.round_size is None) or (p.rounds is not None and p.rounds < 1):
        raise ConfigError("--rounds R and --round-size N go together (R >= 1; N a count, share or "
                          "token budget)")
    url = url or db.database_url()
    backend = get_backend()
    with db.connection(url) as conn:
        ds = db.dataset_id(conn, p.dataset)
        params = identity(p, backend)
        key = runs.config_key(params)
        found = db.one(conn, Q.find, {"config_key": key})
        exp_id = found["id"] if found else db.scalar(
            conn, Q.create, {"dataset_id": ds, "config_key": key, "params": Jsonb(params)})
        for strategy, budget, seed in ([] if p.rounds else cells(p)):
            conn.execute(Q.add_cell, {"experiment_id": exp_id, "strategy": strategy,
                                      "budget": budget, "seed": seed})
        conn.commit()
        todo = [(c["strategy"], c["budget"], c["seed"])
                for c in db.rows(conn, Q.cells, {"experiment_id": exp_id}) if c["status"] != "done"]
        sample = test_sample(conn, ds, p)
    with single(f"allabel.experiments.experiment:{exp_id}", url, f"experiment {exp_id} of dataset {p.dataset}"):
        if p.rounds:
            return run_rounds(p, url, exp_id, ds, sample, backend, show_progress, workers)
        return _run_cells(p, url, exp_id, ds, todo, sample, backend, show_progress, max_cells, workers)


def _run_cells(p: ExperimentParams, url: str, exp_id: int, ds: int, todo: list, sample: list[int],
               backend: Any, show_progress: bool, max_cells: int | None, workers: int = 1) -> int:
    done = 0
    with progress_bar(len(todo), desc=f"experiment {exp_id}", unit="cell", show=show_progress) as bar:
        for strategy, budget, seed in todo:
            if max_cells is not None and done >= max_cells:
                return exp_id
            bar.set_postfix_str(f"{strategy} {budget} seed {seed}")
            started = time.monotonic()
            base, variant = split_variant(strategy)
            sel = select(SelectParams(p.dataset, _strategy(base).cell_budget(budget), base,
                                      seed=seed, oracle=True, knn=p.knn, k=p.k,
                                      uncertainty_candidates=p.uncertainty_candidates,
                                      pool_splits=p.pool_splits, **variant), url, show_progress=False,
                         workers=workers)
            _, pred_run, f1 = predict_sample(
                url, ds, p.test_split, p.k, backend, sample, workers,
                lambda conn, sel_run=sel.run_id: DemoPool.from_run(conn, sel_run))
            db.retrying(lambda r=pred_run, s=sel.run_id, f=f1, c=(strategy, budget, seed):
                        _finish_cell(url, exp_id, c, s, r, f))
            done += 1
            bar.update(1)
            note(f"experiment {exp_id}: {done} of {len(todo)} cells to run done: {strategy} {budget} seed {seed}, "
                 f"F1 {f1:.3f}, {len(sample)} test sentences, {time.monotonic() - started:.0f} s",
                 show=show_progress)
    with db.connection(url) as conn:
        conn.execute(Q.finish, {"experiment_id": exp_id, "status": "done"})
        conn.commit()
    return exp_id


def _finish_cell(url: str, exp_id: int, cell: tuple[str, str, int], selection_run: int,
                 prediction_run_id: int, f1: float) -> None:
    strategy, budget, seed = cell
    with db.connection(url) as conn:
        conn.execute(Q.finish_cell, {"experiment_id": exp_id, "strategy": strategy,
                                     "budget": budget, "seed": seed,
                                     "selection_run_id": selection_run,
                                     "prediction_run_id": prediction_run_id, "f1": f1})
        conn.commit()


def experiment_sample(conn, exp_id: int) -> list[int]:
    """The fixed test sample of a stored experiment (recomputed from its parameters)."""
    meta = db.one(conn, Q.get, {"experiment_id": exp_id})
    if meta is None:
        raise ConfigError(f"no experiment {exp_id}")
    known = {f.name for f in fields(ExperimentParams)}
    p = ExperimentParams(**{k: v for k, v in meta["params"].items() if k in known})
    return test_sample(conn, db.dataset_id(conn, meta["dataset"]), p)


def results(conn, exp_id: int, url: str | None = None) -> list[dict[str, Any]]:
    """Per finished cell: F1 and partial F1 on the experiment's test sample, annotation cost, and
    the LLM calls of its selection and of its sample's predictions.

    F1 is scored here rather than read from ``experiment_cells.f1`` because cells stored before
    2026-11-26 were scored on their whole prediction run, which a later experiment with a larger
    test sample may have extended."""
    sample = experiment_sample(conn, exp_id)
    out = []
    for r in db.rows(conn, Q.cell_costs, {"experiment_id": exp_id, "sample": sample}):
        row = micro(score_on(r.pop("prediction_run_id"), sample, url))
        out.append({**r, "f1": row.f1, "partial_f1": row.partial_f1})
    return out
