"""What a command will cost before it runs: LLM calls, tokens, time and money (``--estimate``).

Nothing here calls the LLM or writes to the database. The prompts are the real ones wherever
they can be known in advance (``predict``; ``select`` once the picks before stage 3 are known or
computed in memory, with the oracle's or the run's annotations as demonstrations) and each is
looked up in the cache (a cached request costs nothing). Tokens: the model's own tokenizer when
the backend offers one (``count_tokens``), else a linear fit of prompt tokens on prompt characters
and messages over the model's recent calls in ``llm_calls``, else 4 characters a token. Answer
tokens and latency are the model's recent means; time is calls x latency / (concurrency x
``--workers``): each worker process has its own requests in flight (one at a time locally).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import psycopg

from allabel.core.config import get_settings
from allabel.llm import get_backend
from allabel.llm.base import Message
from allabel.llm.cache import cache_key
from allabel.llm.pricing import cost
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("estimate")


@dataclass
class Estimate:
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0       # of the calls (cache hits excluded)
    completion_tokens: int = 0
    seconds: float | None = 0.0
    money: float | None = 0.0
    basis: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return self.requests - self.cache_hits

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "cache_hits": self.cache_hits, "calls": self.calls,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "seconds": self.seconds, "money": self.money, "basis": self.basis}

    def __str__(self) -> str:
        secs = f"~{self.seconds:.1f} s" if self.seconds is not None else "time unknown (no recent calls)"
        usd = f"${self.money:.4f}" if self.money is not None else "money unknown (no price for the model)"
        lines = [f"estimate (no LLM call made): {self.requests} requests, {self.calls} LLM calls "
                 f"({self.cache_hits} cached), ~{self.prompt_tokens} prompt tokens, "
                 f"~{self.completion_tokens} answer tokens, {secs}, {usd}"]
        lines += [f"  {b}" for b in self.basis]
        return "\n".join(lines)


class Costing:
    """Token counts, answer length, latency and price of one backend/model, from its history."""

    def __init__(self, conn: psycopg.Connection, backend: Any, workers: int = 1):
        s = get_settings()
        self.backend = backend
        self.workers = max(1, workers)
        self.params = {"max_tokens": s.llm_max_tokens, "temperature": s.llm_temperature,
                       **getattr(backend, "key_params", {})}
        rows = db.rows(conn, Q.calibration, {"backend": backend.name, "model": backend.model})
        self.n = len(rows)
        self.coef: np.ndarray | None = None
        if hasattr(backend, "count_tokens"):
            self.how = "prompt tokens from the model's tokenizer"
        elif rows:
            y = np.array([r["prompt_tokens"] for r in rows], float)
            X = np.array([[r["chars"], r["messages"]] for r in rows], float)
            self.coef = np.linalg.lstsq(X, y, rcond=None)[0]
            self.how = f"prompt tokens fitted on {self.n} recent calls of {backend.model}"
        else:
            self.how = "prompt tokens guessed at 4 characters a token (no calls of this model yet)"
        comp = [r["completion_tokens"] for r in rows if r["completion_tokens"] is not None]
        lat = [r["latency_ms"] for r in rows if r["latency_ms"] is not None]
        self.answer_tokens = float(np.mean(comp)) if comp else float(min(s.llm_max_tokens, 32))
        self.latency = float(np.mean(lat)) / 1000 if lat else None

    def prompt_tokens(self, messages: list[Message]) -> float:
        if hasattr(self.backend, "count_tokens"):
            return float(self.backend.count_tokens(messages))
        chars = sum(len(m["content"]) for m in messages)
        if self.coef is not None:
            return max(float(self.coef @ np.array([chars, len(messages)], float)), 0.0)
        return chars / 4 + 4 * len(messages)

    def key(self, messages: list[Message]) -> str:
        return cache_key(self.backend.name, self.backend.model, messages, self.params)

    def estimate(self, conn: psycopg.Connection, prompts: list[list[Message]]) -> Estimate:
        """Requests for these exact prompts (the cache consulted)."""
        keys = [self.key(m) for m in prompts]
        cached = {r["cache_key"] for r in db.rows(conn, Q.cached_keys, {"keys": keys})} if keys else set()
        est = Estimate(requests=len(prompts))
        seen: set[str] = set()
        tokens = 0.0
        for k, m in zip(keys, prompts, strict=True):
            if k in cached or k in seen:  # an identical prompt is asked (and paid) once
                est.cache_hits += 1
                continue
            seen.add(k)
            tokens += self.prompt_tokens(m)
        est.prompt_tokens = round(tokens)
        return self.finish(est)

    def finish(self, est: Estimate) -> Estimate:
        est.completion_tokens = round(est.calls * self.answer_tokens)
        conc = max(1, getattr(self.backend, "concurrency", 1))
        est.seconds = None if self.latency is None else est.calls * self.latency / (conc * self.workers)
        if self.latency is None and est.calls == 0:
            est.seconds = 0.0
        est.money = cost(self.backend.name, self.backend.model, est.prompt_tokens,
                         est.completion_tokens)
        lat = f"{self.latency:.2f} s/call" if self.latency is not None else "unknown"
        est.basis = [self.how, f"answer tokens {self.answer_tokens:.0f}/call and latency {lat} "
                               f"from recent calls; concurrency {conc} x {self.workers} worker(s)"]
        return est


def _labels(conn: psycopg.Connection, dataset_id: int) -> dict[str, str | None]:
    from allabel.predict import labels

    return labels(conn, dataset_id)


def _prompts(conn: psycopg.Connection, pool: Any, labels: dict, ids: list[int], k: int
             ) -> list[list[Message]]:
    from allabel.predict.prompt import build_messages

    if not ids:
        return []
    texts = {r["id"]: r["text"] for r in db.rows(conn, Q.texts, {"ids": ids})}
    demo_lists = pool.retrieve_many(conn, [(texts[i], i) for i in ids], k)
    return [build_messages(labels, [pool.demos[d] for d in demos], texts[i])
            for i, demos in zip(ids, demo_lists, strict=True)]


def estimate_predict(dataset: str, split: str, demos: str, k: int = 4,
                     limit: int | None = None, url: str | None = None,
                     new: bool = False, workers: int = 1) -> Estimate:
    """What ``allabel predict`` with these options would ask, without asking."""
    from allabel.predict import DemoPool, config_key, run_params

    backend = get_backend()
    with db.connection(url) as conn:
        ds = db.dataset_id(conn, dataset)
        pool = DemoPool.resolve(conn, ds, demos)
        key = config_key(run_params(ds, split, pool, k, backend))
        run_id = db.scalar(conn, Q.find_prediction_run, {"config_key": key})
        have = db.scalar(conn, Q.count_run_predictions, {"run_id": run_id}) if run_id is not None else 0
        room = None if limit is None else max(limit - have, 0)
        find = Q.pending_or_new_worklist if new else Q.pending_or_new
        ids = [r["sentence_id"] for r in db.rows(conn, find, {
            "run_id": run_id, "dataset_id": ds, "split": split, "room": room})]
        costing = Costing(conn, backend, workers)
        return costing.estimate(conn, _prompts(conn, pool, _labels(conn, ds), ids, k))


def estimate_select(p: Any, url: str | None = None, workers: int = 1) -> Estimate:
    """What stage 3 of ``allabel select`` would ask. The picks before it are the run's own when
    it exists, else computed now in memory (nothing is written); demonstrations carry the run's
    annotations, or gold with ``--oracle``; without either they are approximated by gold."""
    from allabel.predict import DemoPool
    from allabel.select import run as srun
    from allabel.select import stages
    from allabel.select.stages import uncertainty

    backend = get_backend()
    with db.connection(url) as conn:
        ds = db.dataset_id(conn, p.dataset)
        pool = srun.pool_of(conn, ds, p.pool_splits)
        plan = srun.plan_of(p, len(pool))
        costing = Costing(conn, backend, workers)
        llm_stage = next((st for st, _ in plan if stages.get(st).asks_llm), None)
        if llm_stage is None:
            est = costing.finish(Estimate())
            est.basis.insert(0, f"strategy {p.strategy} makes no LLM call")
            return est
        from allabel.store import runs

        found = db.one(conn, runs.Q.find, {"kind": "selection",
                                           "config_key": runs.config_key(srun.identity_params(p, ds))})
        run_id = found["id"] if found else None
        if found is not None and found["status"] == "done":
            est = costing.finish(Estimate())
            est.basis.insert(0, f"selection run {run_id} is done: nothing to ask")
            return est
        chosen = conn.execute(srun.Q.selected, {"run_id": run_id}).fetchall() if run_id else []
        picked = [sid for sid, _ in chosen]
        ctx = stages.StageContext(conn, url, ds, None, pool, p)  # picks in memory, none recorded
        for stage, size in plan:
            if stage == llm_stage:
                break
            have = sum(1 for _, st in chosen if st == stage)
            if have < size:
                ctx.set_picked(picked)
                ids, _ = stages.get(stage).pick(ctx, size - have)
                picked += ids
        note = "demonstrations: the run's annotations"
        annotated = run_id is not None and picked and \
            db.scalar(conn, srun.Q.unannotated, {"run_id": run_id}) == 0
        if annotated and not p.oracle:
            demos = DemoPool.from_run(conn, run_id)
        else:
            demos = DemoPool.from_gold(conn, ds, "estimate", ids=picked)
            note = ("demonstrations: gold (the oracle's annotations)" if p.oracle else
                    "demonstrations approximated by gold (not annotated yet)")
        need = dict(plan)[llm_stage]
        cands = uncertainty.sample_candidates(
            pool, set(picked), uncertainty.candidate_cap(p.uncertainty_candidates, need), p.seed)
        if run_id is not None:  # candidates already answered in this run are not asked again
            done = {r["sentence_id"] for r in db.rows(conn, Q.predicted, {"run_id": run_id})}
            cands = [c for c in cands if c not in done]
        est = costing.estimate(conn, _prompts(conn, demos, _labels(conn, ds), cands, p.k))
        est.basis.insert(0, f"stage 3: {len(cands)} candidates, k = {p.k}; {note}")
        return est


def estimate_experiment(p: Any, url: str | None = None, proxy_sample: int = 30,
                        workers: int = 1) -> Estimate:
    """An experiment's cells not done yet: stage-3 candidates plus the test sample, per cell.
    Prompts of cells depend on selections not made yet, so tokens per call are the mean over a
    proxy (test sentences with demonstrations retrieved from the pool's gold) and the cache is
    not consulted, with one exception known without the prompts: a plan no stage of which uses
    the seed (coreset, full, ALLabel's stages 1-2, stage 3 scoring every candidate) picks the same
    sentences at every seed, so its cells after the first (or after a finished one) are cache
    hits. Otherwise an upper bound on calls for a resumed or repeated experiment."""
    from allabel.experiments.experiment import Q as EQ
    from allabel.experiments.experiment import cells, test_sample
    from allabel.predict import DemoPool
    from allabel.select import run as srun

    backend = get_backend()
    with db.connection(url) as conn:
        ds = db.dataset_id(conn, p.dataset)
        pool = srun.pool_of(conn, ds, p.pool_splits)
        sample = test_sample(conn, ds, p)
        params = {**asdict(p), "backend": backend.name, "model": backend.model}
        key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
        row = db.one(conn, EQ.find, {"config_key": key})
        done = {(c["strategy"], c["budget"], c["seed"])
                for c in db.rows(conn, EQ.cells, {"experiment_id": row["id"]})
                if c["status"] == "done"} if row else set()
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
        prompts = _prompts(conn, proxy_pool, _labels(conn, ds), proxy_ids, p.k)
        mean = float(np.mean([costing.prompt_tokens(m) for m in prompts])) if prompts else 0.0
        est = Estimate(requests=requests, cache_hits=cached,
                       prompt_tokens=round(mean * (requests - cached)))
        est = costing.finish(est)
        est.basis.insert(0, f"{len(todo)} cells to run; {len(sample)} test sentences per cell; "
                            f"~{mean:.0f} prompt tokens/call from {len(prompts)} proxy prompts; "
                            f"cached: the repeated seeds of seed-free selections ({cached}); "
                            f"otherwise the cache is not consulted (upper bound)")
        return est


def _selection_requests(p: Any, strategy: str, budget: str, pool_size: int) -> tuple[int, bool]:
    """An experiment cell's stage-3 candidates (LLM requests of its selection), and whether its
    picks depend on the seed (else every seed repeats the first one's prompts)."""
    from allabel.select import stages
    from allabel.select.stages.uncertainty import candidate_cap
    from allabel.select.strategies import make_strategy
    from allabel.select.variants import split_variant

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
