"""``allabel predict --batch-api``: the OpenAI Batch API (about half price, answers within 24 h).

One command, run again and again (cron):

1. *collect* every submitted batch of the run that has finished: each answer goes into
   ``llm_calls`` (the same cache, ``via = 'batch'``) and through the same parser into
   ``predictions``/``entities``, one transaction per batch (``allabel.predict.step.store_answer``,
   the function ``predict`` stores with); a failed item stays ``pending`` (with its error) and is
   retried normally — by the next batch or a plain ``allabel predict`` — until it has failed
   ``llm_max_attempts`` times (then ``failed``);
2. *submit* the run's pending predictions that no open batch holds: requests already in the cache
   are answered from it at once; the rest are written as a Batch input file (JSONL, under
   ``$ALLABEL_HOME/batches``; request bodies only, never the key), uploaded and submitted.

Idempotent and resumable: a batch is recorded (``llm_batches``, ``llm_batch_items``) before it is
uploaded and tagged with its id in the batch metadata, so a crash between submitting and
recording is recovered by finding the batch by that tag instead of submitting it twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError, LLMError
from allabel.core.secrets import mask_url
from allabel.llm import get_backend
from allabel.llm.cache import CachedLLM, cache_key
from allabel.predict.step import Claimed, record_failure, store_answer
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("batch")
PQ = queries("predict")
LQ = queries("llm")
OPEN = ("validating", "in_progress", "finalizing", "cancelling")


@dataclass
class BatchReport:
    run_id: int
    collected_batches: int = 0
    answers: int = 0
    failed_items: int = 0
    in_progress: int = 0
    submitted_batch: int | None = None
    submitted_requests: int = 0
    from_cache: int = 0
    input_file: Path | None = None

    def __str__(self) -> str:
        parts = [f"run {self.run_id}:"]
        if self.collected_batches:
            parts.append(f"collected {self.collected_batches} batch(es): {self.answers} answers "
                         f"stored, {self.failed_items} failed items left pending for a retry;")
        if self.in_progress:
            parts.append(f"{self.in_progress} batch(es) still in progress;")
        if self.from_cache:
            parts.append(f"{self.from_cache} answered from the cache;")
        if self.submitted_batch is not None:
            parts.append(f"submitted batch {self.submitted_batch} with {self.submitted_requests} "
                         f"requests ({self.input_file})")
        elif len(parts) == 1:
            parts.append("nothing to submit or collect")
        return " ".join(parts)


def _fail(conn: psycopg.Connection, pid: int, error: str) -> None:
    """A failed attempt, counted against ``llm_max_attempts`` as in ``predict``."""
    record_failure(conn, pid, error, get_settings().llm_max_attempts)


def _lines(client, file_id: str | None) -> list[dict]:
    if not file_id:
        return []
    return [json.loads(x) for x in client.files.content(file_id).text.splitlines() if x.strip()]


def collect(conn: psycopg.Connection, run_id: int, backend, labels: dict, rep: BatchReport) -> None:
    from openai.types.chat import ChatCompletion

    for ob in db.rows(conn, Q.open_batches, {"run_id": run_id}):
        if ob["status"] != "submitted":
            continue
        bid = ob["id"]
        b = backend.client.batches.retrieve(ob["remote_id"])
        if b.status in OPEN:
            rep.in_progress += 1
            continue
        items = {r["custom_id"]: r for r in db.rows(conn, Q.items, {"batch_id": bid})}
        answered: set[str] = set()
        n_ok = n_failed = 0
        with conn.transaction():
            for line in _lines(backend.client, b.output_file_id) + _lines(backend.client,
                                                                            b.error_file_id):
                item = items.get(line.get("custom_id"))
                if item is None:
                    continue
                key, pid = item["cache_key"], item["prediction_id"]
                resp = line.get("response") or {}
                if line.get("error") or resp.get("status_code") != 200:
                    err = (line.get("error") or {}).get("message") or f"HTTP {resp.get('status_code')}"
                    _fail(conn, pid, f"batch item failed: {err}")
                    n_failed += 1
                    continue
                comp = backend._completion(ChatCompletion.model_validate(resp["body"]), 1,
                                           time.perf_counter())
                row = db.one(conn, Q.insert_call, {
                    "key": key, "backend": backend.name, "model": backend.model,
                    "request": Jsonb(item["request"]), "answer": comp.text, "tokens": comp.tokens,
                    "logprobs": comp.token_logprobs, "prompt_tokens": comp.prompt_tokens,
                    "completion_tokens": comp.completion_tokens})
                hit = row is None  # the same request was answered meanwhile (e.g. synchronously)
                call_id = row["id"] if row else db.scalar(conn, Q.call_by_key, {"key": key})
                answered.add(item["custom_id"])
                if item["prediction_status"] != "pending":
                    continue  # already predicted (a plain predict ran meanwhile): cache only
                conn.execute(LQ.log_request, {"run_id": run_id, "call_id": call_id,
                                              "cache_hit": hit, "retries": 0})
                store_answer(conn, run_id, backend.model, labels,
                             Claimed(pid, item["sentence_id"], item["text"]), item["demo_ids"],
                             comp, call_id)
                n_ok += 1
            missing = [it for cid, it in items.items()
                       if cid not in answered and it["prediction_status"] == "pending"]
            failed_ids = {line.get("custom_id") for line in _lines(backend.client, b.error_file_id)}
            for it in missing:  # an expired or cancelled batch: no line at all for the item
                if it["custom_id"] not in failed_ids and b.status != "completed":
                    _fail(conn, it["prediction_id"], f"batch {b.status}")
                    n_failed += 1
            conn.execute(Q.collected, {"batch_id": bid, "n_collected": n_ok, "n_failed": n_failed,
                                       "status": "collected" if b.status == "completed" else "failed",
                                       "error": None if b.status == "completed" else b.status})
        conn.commit()  # one batch, one transaction
        rep.collected_batches += 1
        rep.answers += n_ok
        rep.failed_items += n_failed


def submit(conn: psycopg.Connection, run_id: int, backend, pool, labels: dict, k: int,
           url: str | None, rep: BatchReport) -> None:
    from allabel.predict.prompt import build_messages

    s = get_settings()
    # a batch recorded but not known to be submitted (crash): adopt it if the endpoint has it
    for ob in db.rows(conn, Q.open_batches, {"run_id": run_id}):
        if ob["status"] == "created":
            _send(conn, backend, ob["id"], rep)
    rows = db.rows(conn, Q.unbatched_pending, {"run_id": run_id})
    if not rows:
        return
    params = {"max_tokens": s.llm_max_tokens, "temperature": s.llm_temperature}
    key_params = {**params, **getattr(backend, "key_params", {})}
    demo_lists = pool.retrieve_many(conn, [(r["text"], r["sentence_id"]) for r in rows], k)
    todo = []
    cached_llm = None
    try:
        for r, demo_ids in zip(rows, demo_lists, strict=True):
            pid = r["id"]
            msgs = build_messages(labels, [pool.demos[d] for d in demo_ids], r["text"])
            key = cache_key(backend.name, backend.model, msgs, key_params)
            if conn.execute(Q.call_by_key, {"key": key}).fetchone() is not None:
                cached_llm = cached_llm or CachedLLM(backend, run_id, url, s.llm_max_tokens,
                                                     s.llm_temperature)
                comp, call_id, _ = cached_llm.complete(msgs)  # a cache hit: no LLM call
                with conn.transaction():
                    store_answer(conn, run_id, backend.model, labels,
                                 Claimed(pid, r["sentence_id"], r["text"]), demo_ids, comp, call_id)
                conn.commit()
                rep.from_cache += 1
                continue
            todo.append((pid, key, msgs, demo_ids))
    finally:
        if cached_llm is not None:
            cached_llm.close()
    if not todo:
        return
    with conn.transaction():
        bid = db.scalar(conn, Q.create_batch, {"run_id": run_id, "base_url": mask_url(backend.base_url),
                                               "n": len(todo)})
        with conn.cursor() as cur:
            cur.executemany(Q.add_item, [{
                "batch_id": bid, "custom_id": str(pid), "cache_key": key,
                "request": Jsonb({"messages": msgs, **params}), "demo_ids": demo_ids}
                for pid, key, msgs, demo_ids in todo])
    conn.commit()  # recorded before it is uploaded: a crash later is recovered, not repeated
    _send(conn, backend, bid, rep)


def _send(conn: psycopg.Connection, backend, bid: int, rep: BatchReport) -> None:
    """Write the input file, upload it and create the batch (or adopt one made before a crash)."""
    tag = f"allabel-batch-{bid}"
    for b in backend.client.batches.list(limit=100):
        if (b.metadata or {}).get("allabel_batch") == tag:
            conn.execute(Q.submitted, {"batch_id": bid, "remote_id": b.id,
                                       "file_id": b.input_file_id})
            conn.commit()
            return
    items = db.rows(conn, Q.items, {"batch_id": bid})
    fields = backend.request_fields()
    folder = Path(get_settings().home).expanduser() / "batches"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"batch-{bid}.jsonl"
    with path.open("w", encoding="utf-8") as f:  # request bodies only: no key, no headers
        for item in items:
            custom_id, request = item["custom_id"], item["request"]
            body = {"model": backend.model, "messages": request["messages"],
                    "max_tokens": request["max_tokens"], "temperature": request["temperature"],
                    **fields}
            f.write(json.dumps({"custom_id": custom_id, "method": "POST",
                                "url": "/v1/chat/completions", "body": body},
                               ensure_ascii=False) + "\n")
    try:
        with path.open("rb") as fh:
            up = backend.client.files.create(file=(path.name, fh), purpose="batch")
        b = backend.client.batches.create(input_file_id=up.id, endpoint="/v1/chat/completions",
                                          completion_window="24h",
                                          metadata={"allabel_batch": tag})
    except Exception as e:  # noqa: BLE001 - reported as an LLM error; the batch stays 'created'
        from allabel.llm.openai_backend import _describe

        raise LLMError(f"LLM endpoint {backend.base_url}: batch {bid} not submitted "
                       f"({_describe(e)}); run the command again") from e
    conn.execute(Q.submitted, {"batch_id": bid, "remote_id": b.id, "file_id": up.id})
    conn.commit()
    rep.submitted_batch, rep.submitted_requests, rep.input_file = bid, len(items), path


def predict_batch_api(dataset: str, split: str, demos: str, k: int = 4, limit: int | None = None,
                      url: str | None = None, new: bool = False) -> BatchReport:
    """Collect finished batches of this prediction run, then submit what is still pending."""
    from allabel.predict import labels as dataset_labels
    from allabel.predict import prepare_run

    backend = get_backend()
    if backend.name != "openai":
        raise ConfigError("--batch-api needs an OpenAI-compatible endpoint (llm_base_url)")
    url = url or db.database_url()
    with db.connection(url) as conn:
        pool, run, _, _ = prepare_run(conn, dataset, split, demos, k, limit, new, backend)
        run_id = run.id
        labels = dataset_labels(conn, pool.dataset_id)
        rep = BatchReport(run_id)
        collect(conn, run_id, backend, labels, rep)
        submit(conn, run_id, backend, pool, labels, k, url, rep)
        conn.execute(PQ.finish_if_complete, {"run_id": run_id})
        conn.commit()
    return rep
