"""What stage 3 of ``allabel select`` would ask, before anything is asked (``--estimate``).

The picks before stage 3 are the run's own when it exists, else made now in memory by the same
stage loop the run uses (``allabel.select.run.missing``; nothing is written); demonstrations carry
the run's annotations, or gold with ``--oracle``; without either they are approximated by gold.
The prompts are then priced by ``allabel.llm.costing``.
"""

from __future__ import annotations

from allabel.llm import get_backend
from allabel.llm.costing import Costing, Estimate
from allabel.predict.demos import DemoPool
from allabel.predict.jobs import labels
from allabel.select import stages
from allabel.select.params import SelectParams
from allabel.select.run import identity_params, missing, picks, plan_of, pool_of, unannotated
from allabel.select.stages.uncertainty import candidate_cap, sample_candidates
from allabel.select.token_budget import refuse
from allabel.store import db, runs
from allabel.store.sqlfiles import queries

Q = queries("select")


def estimate_select(p: SelectParams, url: str | None = None, workers: int = 1) -> Estimate:
    """What stage 3 of ``allabel select`` with these options would ask, without asking."""
    refuse(p.budget, "select --estimate")  # stage sizes under a token budget are known only as it runs
    backend = get_backend()
    with db.connection(url) as conn:
        ds = db.dataset_id(conn, p.dataset)
        pool = pool_of(conn, ds, p.pool_splits)
        plan = plan_of(p, len(pool))
        costing = Costing(conn, backend, workers)
        llm_stage = next((name for name, _ in plan if stages.get(name).asks_llm), None)
        if llm_stage is None:
            est = costing.finish(Estimate())
            est.basis.insert(0, f"strategy {p.strategy} makes no LLM call")
            return est
        found = runs.find(conn, "selection", identity_params(p, ds))
        run_id = found["id"] if found else None
        if found is not None and found["status"] == "done":
            est = costing.finish(Estimate())
            est.basis.insert(0, f"selection run {run_id} is done: nothing to ask")
            return est
        chosen = picks(conn, run_id)
        picked = [r["sentence_id"] for r in chosen]
        ctx = stages.StageContext(conn, url, ds, None, pool, p)  # picks in memory, none recorded
        for _, stage, need in missing(plan, chosen):
            if stage.asks_llm:
                break
            ctx.set_picked(picked)
            ids, _ = stage.pick(ctx, need)
            picked += ids
        note = "demonstrations: the run's annotations"
        annotated = run_id is not None and picked and unannotated(conn, run_id) == 0
        if annotated and not p.oracle:
            demos = DemoPool.from_run(conn, run_id)
        else:
            demos = DemoPool.from_gold(conn, ds, "estimate", ids=picked)
            note = ("demonstrations: gold (the oracle's annotations)" if p.oracle else
                    "demonstrations approximated by gold (not annotated yet)")
        cap = candidate_cap(p.uncertainty_candidates, dict(plan)[llm_stage])
        cands = sample_candidates(pool, set(picked), cap, p.seed)
        if run_id is not None:  # candidates already answered in this run are not asked again
            done = {r["sentence_id"] for r in db.rows(conn, Q.answered, {"run_id": run_id})}
            cands = [c for c in cands if c not in done]
        texts = {r["id"]: r["text"] for r in db.rows(conn, Q.texts, {"ids": cands})}
        prompts = demos.prompts(conn, labels(conn, ds), [(texts[i], i) for i in cands], p.k)
        est = costing.estimate(conn, [m for _, m in prompts])
        est.basis.insert(0, f"stage 3: {len(cands)} candidates, k = {p.k}; {note}")
        return est
