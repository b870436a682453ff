"""What ``allabel experiment`` would ask for its cells not done yet (``--estimate``).

Per cell: the stage-3 candidates of its selection plus its test sample. Prompts of cells depend
on selections not made yet, so tokens per call are the mean over a proxy (test sentences with
demonstrations retrieved from the pool's gold) and the cache is not consulted, with one exception
known without the prompts: a plan no stage of which uses the seed (coreset, full, ALLabel's stages
1-2, stage 3 scoring every candidate) picks the same sentences at every seed, so its cells after
the first (or after a finished one) are cache hits. Otherwise an upper bound on calls for a
resumed or repeated experiment. The experiment is found by the same key it runs under
(``allabel.experiments.experiment.identity``).
"""

from __future__ import annotations

import random

import numpy as np

from allabel.experiments.experiment import ExperimentParams, canonical_params, cells, finished_cells, test_sample
from allabel.llm import get_backend
from allabel.llm.costing import Costing, Estimate
from allabel.predict.demos import DemoPool
from allabel.predict.jobs import labels
from allabel.select import stages
from allabel.select.run import pool_of
from allabel.select.stages.uncertainty import candidate_cap
from allabel.select.strategies import make_strategy
from allabel.select.variants import split_variant
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("predict")


def estimate_experiment(p: ExperimentParams, url: str | None = None, proxy_sample: int = 30,
                        workers: int = 1) -> Estimate:
    """An experiment's cells not done yet: stage-3 candidates plus the test sample, per cell."""
    p = canonical_params(p)
    backend = get_backend()
    with db.connection(url) as conn:
        ds = db.dataset_id(conn, p.dataset)
        pool = pool_of(conn, ds, p.pool_splits)
        sample = test_sample(conn, ds, p)
        done = finished_cells(conn, p, backend)
        requests = cached = 0
        todo = [c for c in cells(p) if c not in done]
        seen = {(s, b) for s, b, _ in done}  # seed-free selections made already
        for strategy, budget, _seed in todo:
            candidates, seeded = _selection_requests(p, strategy, budget, len(pool))
            cell_requests = len(sample) + candidates
            requests += cell_requests
            if not seeded:
                if (strategy, budget) in seen:
                    cached += cell_requests
                seen.add((strategy, budget))
        costing = Costing(conn, backend, workers)
        proxy_pool = DemoPool.from_gold(conn, ds, "proxy", ids=pool)
        proxy_ids = random.Random(0).sample(sample, min(proxy_sample, len(sample)))
        texts = {r["id"]: r["text"] for r in db.rows(conn, Q.texts, {"ids": proxy_ids})}
        prompts = proxy_pool.prompts(conn, labels(conn, ds), [(texts[i], i) for i in proxy_ids], p.k)
        mean = float(np.mean([costing.prompt_tokens(m) for _, m in prompts])) if prompts else 0.0
        est = Estimate(requests=requests, cache_hits=cached,
                       prompt_tokens=round(mean * (requests - cached)))
        est = costing.finish(est)
        est.basis.insert(0, f"{len(todo)} cells to run; {len(sample)} test sentences per cell; "
                            f"~{mean:.0f} prompt tokens/call from {len(prompts)} proxy prompts; "
                            f"cached: the repeated seeds of seed-free selections ({cached}); "
                            f"otherwise the cache is not consulted (upper bound)")
        return est


def _selection_requests(p: ExperimentParams, strategy: str, budget: str, pool_size: int) -> tuple[int, bool]:
    """An experiment cell's stage-3 candidates (LLM requests of its selection), and whether its
    picks depend on the seed (else every seed repeats the first one's prompts)."""
    strat = make_strategy(split_variant(strategy)[0])  # an experiment selects at 1:3:1 in DSU order
    before, seeded = 0, False
    for stage, size in strat.plan(strat.size(strat.cell_budget(budget), pool_size), pool_size):
        if size <= 0:
            continue
        st = stages.get(stage)
        if st.asks_llm:
            cap = candidate_cap(p.uncertainty_candidates, size)
            rest = pool_size - before
            return (rest if cap is None else min(cap, rest)), seeded or (cap is not None and cap < rest)
        seeded |= st.uses_seed
        before += size
    return 0, seeded
