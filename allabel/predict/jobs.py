"""The prediction jobs: enqueue sentences under a run, drain the queue with N workers, record.

Sentences are enqueued as ``predictions`` rows (status pending); workers (``allabel.store.queue``)
run the batch step (``allabel.predict.step``) until nothing is pending. A prediction whose LLM
request keeps failing is asked by at most ``llm_max_attempts`` commands, then marked ``failed``
with its last error; a run with failed predictions ends ``failed`` (exit 5), never ``done``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError, LLMError
from allabel.core.limits import check_names
from allabel.llm import get_backend
from allabel.llm.cache import CachedLLM
from allabel.predict.demos import DemoPool
from allabel.predict.identity import run_params
from allabel.predict.step import BatchStep, PredictStats
from allabel.store import db, queue, runs
from allabel.store.sqlfiles import queries

Q = queries("predict")


def enqueue(conn: psycopg.Connection, run_id: int, sentence_ids: list[int]) -> int:
    cur = conn.execute(Q.enqueue, {"run_id": run_id, "ids": sentence_ids})
    conn.commit()
    return cur.rowcount


def labels(conn: psycopg.Connection, dataset_id: int) -> dict[str, str | None]:
    """The dataset's entity labels and their descriptions (the prompt names them)."""
    found = dict(conn.execute(Q.labels, {"dataset_id": dataset_id}).fetchall())
    if not found:
        raise ConfigError("the dataset has no entity labels: ingest labelled data or --labels")
    return found


def run_worker(run_id: int, pool: DemoPool, k: int, url: str | None = None,
               batch: int | None = None, progress: Any = None) -> PredictStats:
    """Process pending predictions of ``run_id`` until none is left (or an LLM error).

    The worker's connection holds the run's lease (a live worker keeps the run ``running``)
    and, between claim and store, the claims of its batch."""
    s = get_settings()
    stats = PredictStats(run_id)
    backend = get_backend()
    # several waves per claim (fewer barriers); the local model buckets a claim by prompt length
    batch = batch or max(4, 4 * backend.concurrency, 4 * getattr(backend, "batch_size", 1))
    llm = CachedLLM(backend, run_id, url, s.llm_max_tokens, s.llm_temperature)
    try:
        with db.connection(url) as conn:
            found = labels(conn, pool.dataset_id)
        step = BatchStep(run_id, pool, found, k, llm, batch, s.llm_max_attempts, stats)
        queue.drain(step, url, progress=progress,
                    on_connect=lambda c: c.execute(runs.Q.lock, {"run_id": run_id}),
                    on_close=lambda c: runs.release(c, run_id))
    finally:
        llm.close()
    return stats


def _worker_main(args: tuple, progress: Any) -> tuple[int, int, int]:
    run_id, pool, k, url, batch = args
    st = run_worker(run_id, pool, k, url, batch, progress)
    return st.processed, st.requests, st.cache_hits


def failures(conn: psycopg.Connection, run_id: int) -> str | None:
    """Why the run cannot be ``done``: its failed predictions and the last error; None if none."""
    with conn.cursor(row_factory=dict_row) as cur:
        f = cur.execute(Q.failures, {"run_id": run_id}).fetchone()
    if not f["n"]:
        return None
    return (f"{f['n']} prediction(s) of run {run_id} failed {get_settings().llm_max_attempts} "
            f"times and are not asked again (last error: {f['last_error']}); the same command "
            f"with --retry-failed asks them again")


def process(run_id: int, pool: DemoPool, k: int, url: str | None = None, workers: int = 1,
            batch: int | None = None, show_progress: bool = True,
            own_run: bool = True) -> PredictStats:
    """Run the pending work of a run with ``workers`` local processes; record run status/stats.

    ``own_run=False``: the caller holds the run (a selection run's stage 3) and records its
    state (stage 3 counts a failed prediction as an unknown perplexity)."""
    url = url or db.database_url()
    t0 = time.perf_counter()
    with db.connection(url) as conn:
        pending = db.scalar(conn, Q.count_pending, {"run_id": run_id})
    with (runs.hold(run_id, url) if own_run else contextlib.nullcontext()) as holder:
        stats = PredictStats(run_id)
        for done, req, hits in queue.run_workers(_worker_main, (run_id, pool, k, url, batch), workers,
                                                 total=pending, desc=f"predict run {run_id}",
                                                 show_progress=show_progress):
            stats.processed += done
            stats.requests += req
            stats.cache_hits += hits
        stats.seconds = time.perf_counter() - t0
        runs.check_stop()  # stopped between batches: the run is marked interrupted
        if holder is not None:
            _finish(holder, url, {"last_seconds": round(stats.seconds, 3)}, stats.seconds)
    return stats


def _finish(holder: runs.Holder, url: str, stats: dict[str, Any] | None = None,
            seconds: float | None = None) -> None:
    """``done`` — or ``failed`` (raised as an LLM error) when predictions failed for good."""
    with db.connection(url) as conn:
        why = failures(conn, holder.run_id)
    if why is None:
        holder.finish_prediction(stats, seconds)
        return
    holder.finish("failed", stats, error=why, seconds=seconds)
    raise LLMError(why)


def predict_sentences(run_id: int, sentence_ids: list[int], demos: DemoPool, k: int = 4,
                      url: str | None = None, show_progress: bool = True,
                      workers: int = 1, own_run: bool = True) -> PredictStats:
    """Predict ``sentence_ids`` under ``run_id`` (any run: a selection run's stage 3 uses its own).

    Idempotent: sentences already predicted in this run are not asked again."""
    url = url or db.database_url()
    with db.connection(url) as conn:
        n = enqueue(conn, run_id, sentence_ids)
    st = process(run_id, demos, k, url, workers, show_progress=show_progress, own_run=own_run)
    st.enqueued = n
    return st


def prepare_run(conn: psycopg.Connection, dataset: str, split: str, demos: str, k: int,
                limit: int | None, new: bool, backend: Any) -> tuple[DemoPool, runs.RunRef, int, int]:
    """Resolve the demonstrations, open the run and enqueue the split's sentences it has not
    seen (at most ``limit`` in the run; ``new``: none that a prediction run already finished).
    Returns (pool, run, enqueued now, predictions in the run)."""
    ds = db.dataset_id(conn, dataset)
    pool = DemoPool.resolve(conn, ds, demos)
    run = runs.open_run(conn, "prediction", ds, run_params(ds, split, pool, k, backend))
    have = db.scalar(conn, Q.count_run_predictions, {"run_id": run.id})
    room = None if limit is None else max(limit - have, 0)
    find = Q.new_sentences_without_prediction if new else Q.split_sentences_without_prediction
    ids = [r["id"] for r in db.rows(conn, find, {
        "dataset_id": ds, "split": split, "run_id": run.id, "limit": room})]
    n = enqueue(conn, run.id, ids) if ids else 0
    return pool, run, n, have + n


def predict_split(dataset: str, split: str, demos: str, k: int = 4, limit: int | None = None,
                  workers: int = 1, show_progress: bool = True, url: str | None = None,
                  new: bool = False, retry_failed: bool = False) -> PredictStats:
    """``allabel predict``: the sentences of a split not yet predicted under this configuration
    (``new``: nor under any other; ``retry_failed``: failed predictions are asked again)."""
    check_names(dataset=dataset, split=split)
    url = url or db.database_url()
    backend = get_backend()

    def prepare(conn: psycopg.Connection) -> tuple[DemoPool, runs.RunRef, int, int, int]:
        pool, run, n, total = prepare_run(conn, dataset, split, demos, k, limit, new, backend)
        if retry_failed:
            conn.execute(Q.retry_failed, {"run_id": run.id})
            conn.commit()
        pending = db.scalar(conn, Q.count_pending, {"run_id": run.id})
        return pool, run, n, total, pending

    link = db.Link(url, autocommit=False)
    try:
        pool, run, n, total, pending = link.run(prepare)
    finally:
        link.close()
    if pending == 0:
        if run.status != "done" and total > 0:  # its last holder died after the last batch
            with runs.hold(run.id, url) as h:
                _finish(h, url)
        return PredictStats(run.id)  # nothing to do: a finished run is left exactly as it is
    st = process(run.id, pool, k, url, workers, show_progress=show_progress)
    st.enqueued = n
    return st


def run_summary(conn: psycopg.Connection, run_id: int) -> dict[str, Any]:
    """Counts of a run's predictions by status and parse status, entities, mean perplexity."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.run_summary, {"run_id": run_id}).fetchone()
