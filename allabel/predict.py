"""LLM entity recognition over a set of sentences, with Postgres as the queue.

A prediction run is identified by its configuration (dataset, split, demonstration source, k,
backend, model, prompt version, decoding): running the same command again continues the same run.
Sentences are enqueued as ``predictions`` rows (status pending); workers claim batches with
``FOR UPDATE SKIP LOCKED``, ask the LLM (through the ``llm_calls`` cache, several requests in
flight for an endpoint), and write entity rows + results + status done in the claim's
transaction. A killed worker leaves its batch pending; nothing is processed twice.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from allabel import bm25, db, runs
from allabel.config import get_settings
from allabel.errors import ConfigError, LLMError
from allabel.limits import check_names
from allabel.llm import get_backend
from allabel.llm.cache import CachedLLM
from allabel.parse import parse_answer, perplexity
from allabel.prompt import Demo, build_messages, prompt_version
from allabel.secrets import mask_url
from allabel.sqlfiles import queries

Q = queries("predict")


@dataclass
class DemoPool:
    """Annotated sentences demonstrations are retrieved from (BM25 over this pool only)."""

    dataset_id: int
    source: str                                   # "run:<id>" or "split:<name>"
    demos: dict[int, Demo] = field(default_factory=dict)
    index: bm25.PoolIndex | None = field(default=None, repr=False)  # built on first retrieval

    @property
    def ids(self) -> list[int]:
        return list(self.demos)

    @classmethod
    def _load(cls, dataset_id: int, source: str, rows: list[tuple]) -> DemoPool:
        return cls(dataset_id, source, {
            r[0]: Demo(r[1], list(zip(r[2], r[3], r[4], r[5], strict=True))) for r in rows})

    @classmethod
    def from_run(cls, conn: psycopg.Connection, run_id: int) -> DemoPool:
        row = conn.execute(Q.run_dataset, {"run_id": run_id}).fetchone()
        if row is None or row[1] != "selection":
            raise ConfigError(f"run {run_id} is not a selection run")
        return cls._load(row[0], f"run:{run_id}",
                         conn.execute(Q.demos_from_run, {"run_id": run_id}).fetchall())

    @classmethod
    def from_split(cls, conn: psycopg.Connection, dataset_id: int, split: str) -> DemoPool:
        if split == "test":
            raise ConfigError("demonstrations never come from the test split's gold")
        rows = conn.execute(Q.demos_from_split, {"dataset_id": dataset_id, "split": split}).fetchall()
        if not rows:
            raise ConfigError(f"split {split!r} of this dataset has no sentences")
        return cls._load(dataset_id, f"split:{split}", rows)

    @classmethod
    def resolve(cls, conn: psycopg.Connection, dataset_id: int, demos: str) -> DemoPool:
        """``--demos``: a selection run id, or a split name, of this dataset."""
        pool = (cls.from_run(conn, int(demos)) if demos.isdigit()
                else cls.from_split(conn, dataset_id, demos))
        if pool.dataset_id != dataset_id:
            raise ConfigError(f"run {demos} belongs to another dataset")
        return pool

    def retrieve(self, conn: psycopg.Connection, text: str, k: int, exclude: int) -> list[int]:
        """The k most BM25-similar pool sentences, most similar last; never ``exclude``."""
        return self.retrieve_many(conn, [(text, exclude)], k)[0]

    def retrieve_many(self, conn: psycopg.Connection, queries: list[tuple[str, int]],
                      k: int) -> list[list[int]]:
        """Demonstrations for several (text, sentence id) at once (one SQL call for lexemes).

        BM25 over the pool only (exactly ``bm25_search(..., within=pool)``, computed in process).
        When fewer than k pool sentences share a word with the sentence, the rest are filled with
        pool sentences in id order (placed first), so the model always sees k examples of the
        answer format."""
        if k <= 0 or not self.demos:
            return [[] for _ in queries]
        if self.index is None:
            self.index = bm25.PoolIndex(conn, self.dataset_id, self.ids)
        lexemes = self.index.query_lexemes(conn, [t for t, _ in queries])
        out = []
        for (_, exclude), lx in zip(queries, lexemes, strict=True):
            hits = [sid for sid, _ in self.index.search(lx, k, exclude)]
            if len(hits) < k:
                hits += [i for i in self.ids if i != exclude and i not in hits][: k - len(hits)]
            out.append(list(reversed(hits)))
        return out

    def __getstate__(self) -> dict:  # worker processes rebuild the index themselves
        return {**self.__dict__, "index": None}


@dataclass
class PredictStats:
    run_id: int
    enqueued: int = 0
    processed: int = 0
    requests: int = 0
    cache_hits: int = 0
    seconds: float = 0.0

    @property
    def calls(self) -> int:
        return self.requests - self.cache_hits


def run_params(dataset_id: int, split: str, demos: DemoPool, k: int, backend: Any) -> dict[str, Any]:
    """Everything that changes a prediction run's result (its identity, see allabel.runs)."""
    s = get_settings()
    return {"dataset_id": dataset_id, "split": split, "demos": demos.source, "k": k,
            **llm_identity(backend),
            "max_tokens": s.llm_max_tokens, "temperature": s.llm_temperature}


def llm_identity(backend: Any) -> dict[str, Any]:
    """Backend, model, endpoint (masked; only when there is one) and prompt version."""
    out: dict[str, Any] = {"backend": backend.name, "model": backend.model, "prompt": prompt_version()}
    endpoint = getattr(backend, "base_url", None)
    if endpoint:
        out["endpoint"] = mask_url(endpoint)
    return out


config_key = runs.config_key  # the one identity function (allabel.estimate uses this name)


def prediction_run(conn: psycopg.Connection, dataset_id: int, split: str, demos: DemoPool,
                   k: int, backend: Any) -> int:
    """The run for this configuration (created on first use, continued afterwards)."""
    return runs.open_run(conn, "prediction", dataset_id,
                         run_params(dataset_id, split, demos, k, backend)).id


def enqueue(conn: psycopg.Connection, run_id: int, sentence_ids: list[int]) -> int:
    cur = conn.execute(Q.enqueue, {"run_id": run_id, "ids": sentence_ids})
    conn.commit()
    return cur.rowcount


def _labels(conn: psycopg.Connection, dataset_id: int) -> dict[str, str | None]:
    labels = dict(conn.execute(Q.labels, {"dataset_id": dataset_id}).fetchall())
    if not labels:
        raise ConfigError("the dataset has no entity labels: ingest labelled data or --labels")
    return labels


def _process_batch(conn: psycopg.Connection, llm: CachedLLM, run_id: int, pool: DemoPool,
                   labels: dict[str, str | None], k: int, batch: int,
                   stats: PredictStats) -> int:
    """Claim, predict and store one batch in one transaction. Returns how many were done."""
    with conn.transaction():
        rows = conn.execute(Q.claim, {"run_id": run_id, "limit": batch}).fetchall()
        if not rows:
            return 0
        prompts = []
        demo_lists = pool.retrieve_many(conn, [(text, sid) for _, sid, text in rows], k)
        for (pid, sid, text), demo_ids in zip(rows, demo_lists, strict=True):
            prompts.append((pid, sid, text, demo_ids,
                            build_messages(labels, [pool.demos[d] for d in demo_ids], text)))

        results = llm.complete_many([p[4] for p in prompts])
        failed: LLMError | None = None
        done = 0
        for (pid, sid, text, demo_ids, _), res in zip(prompts, results, strict=True):
            if isinstance(res, LLMError):
                conn.execute(Q.fail, {"id": pid, "error": str(res)})
                failed = failed or res
                continue
            comp, call_id, hit = res
            stats.requests += 1
            stats.cache_hits += hit
            parsed = parse_answer(comp.text, text, list(labels), comp.tokens, comp.token_logprobs)
            with conn.cursor() as cur:
                cur.executemany(Q.insert_entity, [{
                    "sentence_id": sid, "start": e.start, "end": e.end, "label": e.label,
                    "text": e.text, "run_id": run_id, "prediction_id": pid,
                    "model": llm.backend.model, "confidence": e.confidence}
                    for e in parsed.entities])
            conn.execute(Q.finish, {
                "id": pid, "call_id": call_id, "parse_status": parsed.status,
                "perplexity": perplexity(comp.token_logprobs), "n_entities": len(parsed.entities),
                "demo_ids": demo_ids,
                "error": "; ".join(parsed.dropped)[:2000] if parsed.dropped else None})
            done += 1
    stats.processed += done
    if failed is not None:
        raise failed
    return done


def run_worker(run_id: int, pool: DemoPool, k: int, url: str | None = None,
               batch: int | None = None, progress: Any = None) -> PredictStats:
    """Process pending predictions of ``run_id`` until none is left (or an LLM error).

    Each batch runs under the database retry policy: when the server goes away, the batch's
    transaction is rolled back, the connection is re-opened (with backoff) and the batch is run
    again; answers the LLM already gave are in the cache by then, so they are not asked again.
    A stop request (SIGINT/SIGTERM) is honoured between batches."""
    s = get_settings()
    stats = PredictStats(run_id)
    backend = get_backend()
    # several waves per claim (fewer barriers); the local model buckets a claim by prompt length
    batch = batch or max(4, 4 * backend.concurrency, 4 * getattr(backend, "batch_size", 1))
    llm = CachedLLM(backend, run_id, url, s.llm_max_tokens, s.llm_temperature)
    # autocommit: each conn.transaction() in the batch is a real transaction, committed per batch;
    # the connection also holds the run's lease (a live worker keeps the run `running`)
    link = db.Link(url, autocommit=True, on_connect=lambda c: c.execute(runs.Q.lock, {"run_id": run_id}))
    try:
        labels = link.run(lambda conn: _labels(conn, pool.dataset_id))
        while not runs.stop_requested():
            n = link.run(lambda conn: _process_batch(conn, llm, run_id, pool, labels, k, batch, stats))
            if n == 0:
                break
            if progress is not None:
                progress.update(n)
    finally:
        link.close(last=lambda c: runs.release(c, run_id))
        llm.close()
    return stats


def _worker_main(args: tuple) -> tuple[int, int, int]:
    run_id, pool, k, url, batch = args
    st = run_worker(run_id, pool, k, url, batch)
    return st.processed, st.requests, st.cache_hits


def _run_workers(run_id: int, pool: DemoPool, k: int, url: str, workers: int, batch: int | None,
                 pending: int, show_progress: bool) -> PredictStats:
    from allabel.progress import bar as progress_bar

    stats = PredictStats(run_id)
    if workers <= 1:
        with progress_bar(pending, desc=f"predict run {run_id}", unit="sent",
                          show=show_progress) as bar:
            return run_worker(run_id, pool, k, url, batch, bar)
    for done, req, hits in runs.run_in_workers(_worker_main, (run_id, pool, k, url, batch), workers):
        stats.processed += done
        stats.requests += req
        stats.cache_hits += hits
    return stats


def process(run_id: int, pool: DemoPool, k: int, url: str | None = None, workers: int = 1,
            batch: int | None = None, show_progress: bool = True,
            own_run: bool = True) -> PredictStats:
    """Run the pending work of a run with ``workers`` local processes; record run status/stats.

    ``own_run=False``: the caller holds the run (a selection run's stage 3) and records its state."""
    url = url or db.database_url()
    t0 = time.perf_counter()
    with db.connection(url) as conn:
        pending = conn.execute(Q.count_pending, {"run_id": run_id}).fetchone()[0]
    ctx = runs.hold(run_id, url) if own_run else contextlib.nullcontext()
    with ctx as holder:
        stats = _run_workers(run_id, pool, k, url, workers, batch, pending, show_progress)
        stats.seconds = time.perf_counter() - t0
        runs.check_stop()  # stopped between batches: the run is marked interrupted
        if holder is not None:
            holder.finish_prediction({"last_seconds": round(stats.seconds, 3)}, stats.seconds)
    return stats


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


def predict_split(dataset: str, split: str, demos: str, k: int = 4, limit: int | None = None,
                  workers: int = 1, show_progress: bool = True,
                  url: str | None = None) -> PredictStats:
    """``allabel predict``: the sentences of a split not yet predicted under this configuration."""
    check_names(dataset=dataset, split=split)
    url = url or db.database_url()
    backend = get_backend()

    def prepare(conn: psycopg.Connection) -> tuple[DemoPool, int, str, int, int]:
        ds = db.dataset_id(conn, dataset)
        pool = DemoPool.resolve(conn, ds, demos)
        run = runs.open_run(conn, "prediction", ds, run_params(ds, split, pool, k, backend))
        have = conn.execute(Q.count_run_predictions, {"run_id": run.id}).fetchone()[0]
        room = None if limit is None else max(limit - have, 0)
        ids = [r[0] for r in conn.execute(Q.split_sentences_without_prediction, {
            "dataset_id": ds, "split": split, "run_id": run.id, "limit": room})]
        n = enqueue(conn, run.id, ids) if ids else 0
        return pool, run.id, run.status, n, have + n

    link = db.Link(url, autocommit=False)
    try:
        pool, run_id, status, n, total = link.run(prepare)
        pending = link.run(lambda c: c.execute(Q.count_pending, {"run_id": run_id}).fetchone()[0])
    finally:
        link.close()
    if pending == 0:
        if status != "done" and total > 0:  # its last holder died after the last batch
            with runs.hold(run_id, url) as h:
                h.finish_prediction()
        return PredictStats(run_id)  # nothing to do: a finished run is left exactly as it is
    st = process(run_id, pool, k, url, workers, show_progress=show_progress)
    st.enqueued = n
    return st


def run_summary(conn: psycopg.Connection, run_id: int) -> dict[str, Any]:
    r = conn.execute(Q.run_summary, {"run_id": run_id}).fetchone()
    return {"done": r[0], "pending": r[1], "ok": r[2], "partial": r[3], "unparseable": r[4],
            "entities": r[5], "mean_perplexity": r[6]}
