"""The batch step of a prediction worker: claim → prompt → ask → parse → store.

Three short moments on the database, never a transaction open while the LLM computes:

1. *claim* (one autocommit statement): pending predictions of the run, each marked with a session
   advisory lock on the worker's connection (``allabel/sql/queries/predict.sql``: ``claim``);
2. *ask* with no transaction open: demonstrations are retrieved, prompts built and sent through
   the ``llm_calls`` cache (each answer is stored there the moment it arrives);
3. *store* (one transaction): entity rows + results + status ``done``, or a failed attempt; then
   the claims are released.

A worker killed at any point leaves its claims pending for the next one (its locks die with its
session); after a reconnect the step runs again and the cache answers what was already asked.
:func:`store_answer` is also how the Batch API (``allabel.predict.batch``) stores its answers.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from allabel.core.errors import LLMError
from allabel.llm.base import Completion, Message
from allabel.llm.cache import CachedLLM
from allabel.predict.demos import DemoPool
from allabel.predict.parse import parse_answer, perplexity
from allabel.predict.prompt import build_messages
from allabel.store import db, runs
from allabel.store.sqlfiles import queries

Q = queries("predict")
CLAIM_POLL_SECONDS = 0.2  # how often a worker with nothing to claim looks again while others hold rows


@dataclass
class Claimed:
    id: int            # predictions.id
    sentence_id: int
    text: str


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


def claim(conn: psycopg.Connection, run_id: int, limit: int) -> list[Claimed]:
    """Claim up to ``limit`` pending predictions (committed at once: ``conn`` is autocommit)."""
    return [Claimed(*r) for r in conn.execute(Q.claim, {"run_id": run_id, "limit": limit})]


def release(conn: psycopg.Connection, items: list[Claimed]) -> None:
    """Give the claims back (a lost connection has given them back already)."""
    with contextlib.suppress(psycopg.Error):
        conn.execute(Q.release, {"ids": [it.id for it in items]})


def prompts(conn: psycopg.Connection, pool: DemoPool, labels: dict[str, str | None], k: int,
            items: list[Claimed]) -> list[tuple[list[int], list[Message]]]:
    """(demonstration ids, messages) per claimed sentence."""
    demo_lists = pool.retrieve_many(conn, [(it.text, it.sentence_id) for it in items], k)
    return [(ids, build_messages(labels, [pool.demos[d] for d in ids], it.text))
            for it, ids in zip(items, demo_lists, strict=True)]


def store_answer(conn: psycopg.Connection, run_id: int, model: str, labels: dict[str, str | None],
                 item: Claimed, demo_ids: list[int], comp: Completion, call_id: int) -> bool:
    """Parse an answer and store the prediction and its entities (inside the caller's
    transaction). False when the prediction is no longer pending (another worker stored it)."""
    parsed = parse_answer(comp.text, item.text, list(labels), comp.tokens, comp.token_logprobs)
    finished = conn.execute(Q.finish, {
        "id": item.id, "call_id": call_id, "parse_status": parsed.status,
        "perplexity": perplexity(comp.token_logprobs), "n_entities": len(parsed.entities),
        "demo_ids": demo_ids,
        "error": "; ".join(parsed.dropped)[:2000] if parsed.dropped else None}).fetchone()
    if finished is None:
        return False
    with conn.cursor() as cur:
        cur.executemany(Q.insert_entity, [{
            "sentence_id": item.sentence_id, "start": e.start, "end": e.end, "label": e.label,
            "text": e.text, "run_id": run_id, "prediction_id": item.id, "model": model,
            "confidence": e.confidence} for e in parsed.entities])
    return True


def record_failure(conn: psycopg.Connection, prediction_id: int, error: str,
                   max_attempts: int) -> str | None:
    """Count a failed attempt; the prediction's status after it (``failed`` at the limit)."""
    return db.scalar(conn, Q.fail, {"id": prediction_id, "error": error[:2000],
                                    "max_attempts": max_attempts})


@dataclass
class BatchStep:
    """One batch of a prediction run, as ``allabel.store.queue.drain`` runs it: returns how many
    predictions it finished, 0 when nothing is left to claim. An LLM error is raised after the
    rest of the batch is stored (and the failed attempt counted)."""

    run_id: int
    pool: DemoPool
    labels: dict[str, str | None]
    k: int
    llm: CachedLLM
    batch: int
    max_attempts: int
    stats: PredictStats

    def __call__(self, conn: psycopg.Connection) -> int:
        items = self._claim_or_wait(conn)
        if not items:
            return 0
        try:
            asked = prompts(conn, self.pool, self.labels, self.k, items)
            results = self.llm.complete_many([m for _, m in asked])  # no transaction open
            done, failed = self._store(conn, items, asked, results)
        finally:
            release(conn, items)
        self.stats.processed += done
        if failed is not None:
            raise failed
        return done or len(items)  # a batch whose rows others stored is still progress

    def _claim_or_wait(self, conn: psycopg.Connection) -> list[Claimed]:
        """A batch; none only when nothing of the run is pending (or a stop was requested).
        Pending rows that others hold are waited for: their holder stores them, or dies and
        leaves them to us (a killed session's locks can outlive it by a moment)."""
        while True:
            items = claim(conn, self.run_id, self.batch)
            if items or runs.stop_requested():
                return items
            if db.scalar(conn, Q.count_pending, {"run_id": self.run_id}) == 0:
                return items
            time.sleep(CLAIM_POLL_SECONDS)

    def _store(self, conn: psycopg.Connection, items: list[Claimed],
               asked: list[tuple[list[int], Any]], results: list[Any]) -> tuple[int, LLMError | None]:
        done, failed = 0, None
        with conn.transaction():
            for item, (demo_ids, _), res in zip(items, asked, results, strict=True):
                if isinstance(res, LLMError):
                    record_failure(conn, item.id, str(res), self.max_attempts)
                    failed = failed or res
                    continue
                comp, call_id, hit = res
                self.stats.requests += 1
                self.stats.cache_hits += hit
                done += store_answer(conn, self.run_id, self.llm.backend.model, self.labels,
                                     item, demo_ids, comp, call_id)
        return done, failed
