"""A selection run: plan the stages, run them, record every pick, wait for annotations.

A run is identified by its parameters (same parameters = same run, so repeating a command or an
experiment continues instead of starting over). Picks are committed stage by stage; the
uncertainty stage needs the earlier picks annotated: with ``oracle`` gold is copied in, otherwise
the run stops at ``awaiting_annotation`` until ``allabel select --resume RUN``. A run is ``done``
only when every pick is annotated: a baseline, or ALLabel after its last stage, waits at
``awaiting_annotation`` (all picks chosen) until the annotations are imported and ``--resume``
confirms them.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from allabel import bm25, db, runs
from allabel.config import get_settings
from allabel.embed import load_vectors
from allabel.errors import ConfigError, LLMError
from allabel.limits import check_names
from allabel.select import diversity, farthest, similarity, uncertainty
from allabel.select.budget import parse_budget, parse_order, parse_ratio
from allabel.select.strategies import make_strategy
from allabel.sqlfiles import queries

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
    uncertainty_score: str = "perplexity"  # stage 3: perplexity (mean) | total (summed NLL)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
    """Everything that changes a selection's result (its identity, see allabel.runs): the
    parameters, the embedding model, and, when a stage asks the LLM (uncertainty), the LLM's
    backend, model, endpoint (masked) and prompt version — another model is another run."""
    params = p.as_dict()
    for name, default in (("length_floor", 0.0), ("uncertainty_score", "perplexity")):
        if params[name] == default:  # runs made before these options keep their identity
            del params[name]
    out = {**params, "dataset_id": dataset_id, "model": get_settings().embed_model}
    if _uses_llm(p):
        from allabel.llm import get_backend
        from allabel.predict import llm_identity

        out["llm"] = llm_identity(get_backend())
    return out


def _uses_llm(p: SelectParams) -> bool:
    if p.strategy == "uncertainty":
        return True
    return p.strategy == "allabel" and parse_ratio(p.ratio)[2] > 0


def _pool(conn: psycopg.Connection, dataset_id: int, splits: list[str] | None) -> list[int]:
    if splits is None:
        splits = [r[0] for r in conn.execute(Q.splits, {"dataset_id": dataset_id})]
    if "test" in splits:
        raise ConfigError("the test split is never part of the selection pool")
    pool = [r[0] for r in conn.execute(Q.pool, {"dataset_id": dataset_id, "splits": splits})]
    if not pool:
        raise ConfigError(f"no pool sentences in splits {splits}")
    return pool


def _vectors(conn: psycopg.Connection, dataset_id: int, pool: list[int]) -> np.ndarray:
    ids, X = load_vectors(conn, dataset_id, sentence_ids=pool)
    if len(ids) != len(pool):
        raise ConfigError(f"{len(pool) - len(ids)} pool sentences have no embedding: run "
                          f"`allabel embed --dataset ...` first")
    return X  # ids come back sorted like the pool


def _bm25_knn(conn: psycopg.Connection, dataset_id: int, pool: list[int], k: int) -> list[list[int]]:
    """Each pool sentence's k BM25 nearest pool sentences (BM25 statistics over the pool), with
    the exact in-process pool index: one query per pool sentence."""
    index = {sid: i for i, sid in enumerate(pool)}
    texts = dict(conn.execute(Q.texts, {"ids": pool}).fetchall())
    bm = bm25.PoolIndex(conn, dataset_id, pool)
    out = []
    for a in range(0, len(pool), 1000):
        chunk = pool[a:a + 1000]
        for sid, lx in zip(chunk, bm.query_lexemes(conn, [texts[s] for s in chunk]), strict=True):
            out.append([index[h] for h, _ in bm.search(lx, k, exclude=sid)])
    return out


def _annotate_with_oracle(conn: psycopg.Connection, run_id: int) -> None:
    conn.execute(Q.oracle_entities, {"run_id": run_id})
    conn.execute(Q.oracle_annotations, {"run_id": run_id})


def select(p: SelectParams, url: str | None = None, show_progress: bool = True,
           resume_run: int | None = None) -> SelectResult:
    """Run (or continue) a selection; a failure marks the run failed with its reason."""
    check_names(dataset=p.dataset, splits=p.pool_splits)
    url = url or db.database_url()
    from allabel.locks import single

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
            res = db.retrying(lambda: _select(p, url, show_progress, run_id, plan, ds, pool, holder))
            runs.check_stop()
            return res


def _open(p: SelectParams, url: str, resume_run: int | None) -> tuple[int, str, list, int, list[int]]:
    """The run (found, created, or the one to resume), its plan, dataset and pool."""
    ratio, order = parse_ratio(p.ratio), parse_order(p.order)
    strategy = make_strategy(p.strategy, ratio, order)
    if p.similarity not in ("embedding", "bm25"):
        raise ConfigError("--similarity is embedding or bm25")
    with db.connection(url) as conn:
        ds = db.dataset_id(conn, p.dataset)
        pool = _pool(conn, ds, p.pool_splits)
        m = len(pool) if p.strategy == "full" else parse_budget(p.budget, len(pool))
        plan = strategy.plan(m, len(pool))
        if resume_run is not None:
            run_id, status = resume_run, "running"
        else:
            run = runs.open_run(conn, "selection", ds, identity_params(p, ds))
            run_id, status = run.id, run.status
        return run_id, status, plan, ds, pool


def _select(p: SelectParams, url: str, show_progress: bool, run_id: int, plan: list, ds: int,
            pool: list[int], holder: runs.Holder) -> SelectResult:
    with db.connect(url) as conn:
        timings: dict[str, float] = {}
        for stage, size in plan:
            runs.check_stop()  # a stop request is honoured between stages
            chosen = conn.execute(Q.selected, {"run_id": run_id}).fetchall()
            have = sum(1 for _, st in chosen if st == stage)
            if have >= size:
                continue  # finished before an interruption
            picked_ids = [sid for sid, _ in chosen]
            need = size - have
            t0 = time.perf_counter()
            if stage == "uncertainty":
                if p.oracle:
                    _annotate_with_oracle(conn, run_id)
                    conn.commit()
                elif conn.execute(Q.unannotated, {"run_id": run_id}).fetchone()[0] > 0:
                    conn.commit()
                    holder.finish("awaiting_annotation", {"timings": timings})
                    return _result(conn, run_id, "awaiting_annotation")
                ids, scores = _uncertainty(conn, url, run_id, pool, picked_ids, need, p, show_progress)
            else:
                ids, scores = _stage(conn, ds, pool, picked_ids, stage, need, p)
            rank0 = len(chosen)
            with conn.cursor() as cur:
                cur.executemany(Q.insert_selection, [
                    {"run_id": run_id, "sentence_id": sid, "stage": stage, "rank": rank0 + i + 1,
                     "score": sc} for i, (sid, sc) in enumerate(zip(ids, scores, strict=True))])
            timings[stage] = round(time.perf_counter() - t0, 3)
            conn.commit()
        if p.oracle:
            _annotate_with_oracle(conn, run_id)
        # every pick chosen; `done` only once every pick is annotated, else a person is still due
        waiting = conn.execute(Q.unannotated, {"run_id": run_id}).fetchone()[0]
        final = "awaiting_annotation" if waiting else "done"
        from allabel.llm.cache import usage

        u = usage(conn, run_id)[0]
        scored, with_ppl = conn.execute(Q.count_scored, {"run_id": run_id}).fetchone()
        conn.commit()
        holder.finish(final, {"timings": timings, "llm_calls": u["calls"],
                               "llm_requests": u["requests"], "prompt_tokens": u["prompt_tokens"],
                               "completion_tokens": u["completion_tokens"],
                               "uncertainty_scored": scored, "uncertainty_with_perplexity": with_ppl})
        res = _result(conn, run_id, final)
        res.seconds = timings
        return res


def _stage(conn: psycopg.Connection, ds: int, pool: list[int], picked: list[int], stage: str,
           need: int, p: SelectParams) -> tuple[list[int], list[float | None]]:
    index = {sid: i for i, sid in enumerate(pool)}
    blocked = np.zeros(len(pool), bool)
    already = np.array([index[s] for s in picked if s in index], np.int64)
    blocked[already] = True
    if p.length_floor > 0 and stage in ("diversity", "similarity"):
        blocked |= _too_short(conn, pool, p.length_floor)
    taken = set(picked)
    if stage == "full":
        rest = [s for s in pool if s not in taken]
        return rest[:need], [None] * min(need, len(rest))
    if stage == "random":
        rest = [s for s in pool if s not in taken]
        ids = random.Random(p.seed).sample(rest, need)
        return ids, [None] * len(ids)
    if stage == "diversity":
        X = _vectors(conn, ds, pool)
        # same picks; above the exact size the N vectors are read once per block of picks
        coreset = (farthest.coreset_blocked if len(pool) > get_settings().exact_max_pool
                   else diversity.coreset)
        idx, scores = coreset(X, need, already=already if len(already) else None,
                              excluded=np.flatnonzero(blocked))
        return [pool[i] for i in idx], scores
    if stage == "similarity":
        if p.similarity == "embedding":
            neigh = similarity.knn_embedding(_vectors(conn, ds, pool), p.knn)
        else:
            neigh = _bm25_knn(conn, ds, pool, p.knn)
        score = similarity.sum_of_ranks(neigh, len(pool), p.knn)
        idx, scores = similarity.top_scored(score, need, blocked)
        return [pool[i] for i in idx], scores
    raise ConfigError(f"unknown stage {stage}")


def _too_short(conn: psycopg.Connection, pool: list[int], quantile: float) -> np.ndarray:
    """Pool sentences (mask) with fewer tokens than the pool's ``quantile`` of token counts."""
    n = np.array([r[1] for r in conn.execute(Q.token_counts, {"ids": pool})], np.float64)
    return n < np.quantile(n, quantile)


def _uncertainty(conn: psycopg.Connection, url: str, run_id: int, pool: list[int],
                 picked: list[int], need: int, p: SelectParams,
                 show_progress: bool) -> tuple[list[int], list[float | None]]:
    from allabel.predict import DemoPool, predict_sentences

    cap = uncertainty.candidate_cap(p.uncertainty_candidates, need)
    cands = uncertainty.sample_candidates(pool, set(picked), cap, p.seed)
    if len(cands) < need:
        raise ConfigError(f"only {len(cands)} uncertainty candidates for {need} picks: raise "
                          f"--uncertainty-candidates")
    demos = DemoPool.from_run(conn, run_id)
    conn.commit()
    predict_sentences(run_id, cands, demos, p.k, url, show_progress=show_progress, own_run=False)
    rows = conn.execute(Q.answer_uncertainty, {"run_id": run_id, "ids": cands}).fetchall()
    known = sum(1 for _, ppl, _, _ in rows if ppl is not None)
    share = known / len(cands) if cands else 1.0
    conn.execute(Q.add_stats, {"run_id": run_id, "stats": Jsonb({
        "perplexity_known_share": round(share, 4), "uncertainty_candidates": len(cands)})})
    conn.commit()
    minimum = get_settings().llm_min_known_perplexity
    if share < minimum:  # never rank silently on unknown uncertainty
        message = _unknown_uncertainty(conn, run_id, cands, known, minimum)
        # forget the answers without a perplexity (their calls stay cached), so that the same
        # command asks again once the endpoint gives log-probs
        conn.execute(Q.forget_unknown, {"run_id": run_id, "ids": cands})
        conn.commit()
        raise LLMError(message)
    # an unparseable answer is not a confident one: most uncertain (docs/selection.md)
    score = {sid: (uncertainty.UNPARSEABLE if status == "unparseable"
                   else uncertainty.answer_score(ppl, n, p.uncertainty_score))
             for sid, ppl, n, status in rows}
    return uncertainty.most_uncertain({c: score.get(c) for c in cands}, need)


def _unknown_uncertainty(conn: psycopg.Connection, run_id: int, cands: list[int], known: int,
                         minimum: float) -> str:
    """The refusal message: how many lack a perplexity, which endpoint, and why."""
    from allabel.llm import get_backend
    from allabel.llm.endpoints import load

    backend = get_backend()
    where = backend.name
    dropped: set[str] = set()
    if backend.name == "openai":
        where = f"endpoint {backend.base_url} (model {backend.model})"
        dropped = load(backend.base_url, backend.model)[0]
    gaps = conn.execute(Q.perplexity_gaps, {"run_id": run_id, "ids": cands}).fetchone()
    causes = []
    if gaps[0]:
        cause = f"{gaps[0]} answers carried no log-probs"
        if dropped & {"logprobs", "top_logprobs"}:
            cause += f" (the endpoint rejected the request fields {', '.join(sorted(dropped))})"
        else:
            cause += " although logprobs and top_logprobs were asked for: the server does not return them"
        causes.append(cause)
    if gaps[1]:
        causes.append(f"{gaps[1]} answers were empty")
    if gaps[2]:
        causes.append(f"{gaps[2]} candidates got no answer")
    return (f"stage 3 (uncertainty) refused: only {known} of {len(cands)} candidates "
            f"({known / max(len(cands), 1):.0%}) have a perplexity, at least "
            f"{minimum:.0%} needed (llm_min_known_perplexity); {where}: "
            f"{'; '.join(causes) or 'unknown cause'}. `allabel llm check` shows what the "
            f"endpoint answers; use a server that returns log-probs (vLLM, llama.cpp, Ollama "
            f">= 0.12.11, OpenAI) or the local backend, then run the same command again "
            f"(answers cached without log-probs are asked again once the endpoint gives them)")


def _result(conn: psycopg.Connection, run_id: int, status: str) -> SelectResult:
    rows = conn.execute(Q.selected, {"run_id": run_id}).fetchall()
    by: dict[str, int] = {}
    for _, st in rows:
        by[st] = by.get(st, 0) + 1
    stats = conn.execute(Q.run_stats, {"run_id": run_id}).fetchone()[0] or {}
    return SelectResult(run_id, status, len(rows), by,
                        perplexity_known_share=stats.get("perplexity_known_share"),
                        uncertainty_candidates=stats.get("uncertainty_candidates"))


def run_params(run_id: int, url: str | None = None) -> SelectParams:
    """The parameters a selection run was started with."""
    with db.connection(url) as conn:
        row = conn.execute(Q.get_run, {"run_id": run_id}).fetchone()
    if row is None or row[1] != "selection":
        raise ConfigError(f"run {run_id} is not a selection run")
    fields = set(SelectParams.__dataclass_fields__)
    return SelectParams(**{k: v for k, v in row[3].items() if k in fields})


def resume(run_id: int, url: str | None = None, show_progress: bool = True) -> SelectResult:
    with db.connection(url) as conn:
        run = runs.require_kind(conn, run_id, "selection")
    fields = set(SelectParams.__dataclass_fields__)
    p = SelectParams(**{k: v for k, v in run["params"].items() if k in fields})
    if run["status"] == "done":
        with db.connection(url) as conn:
            return _result(conn, run_id, "done")
    with db.connection(url) as conn:
        missing = conn.execute(Q.unannotated, {"run_id": run_id}).fetchone()[0]
    if missing and not p.oracle:
        raise ConfigError(f"run {run_id} still waits for {missing} annotations "
                          f"(allabel export {run_id} ... then allabel import FILE --run {run_id}; "
                          f"the view annotation_queue lists them)")
    return select(p, url, show_progress, resume_run=run_id)
