"""Every LLM request goes through Postgres: ``llm_calls`` is the cache and the bill.

The key is sha256 over backend, model, messages and decoding parameters; an identical request is
served from the table, so re-running a prediction or selection job makes zero new calls. New
calls are written on their own autocommit connection right away: a job that crashes later never
loses a call it paid for. ``run_llm_requests`` logs every request of a run with cache_hit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from allabel.core.errors import LLMError
from allabel.llm.base import Completion, LLMBackend, Message, complete_batch
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("llm")


def cache_key(backend: str, model: str, messages: list[Message], params: dict) -> str:
    blob = json.dumps({"backend": backend, "model": model, "messages": messages,
                       "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class CachedLLM:
    """A backend behind the ``llm_calls`` cache, accounting requests to ``run_id``.

    Two promises under faults: (1) an answer is stored before anything else happens to it — on
    its own autocommit connection, under the database retry policy, so a server restart while a
    request is in flight only delays the insert; (2) one request per distinct prompt is in flight
    at a time across threads and processes (a per-key lock here, a session advisory lock on the
    cache key in Postgres): a second worker with the same prompt waits and reads the answer."""

    POLL_SECONDS = 0.05

    def __init__(self, backend: LLMBackend, run_id: int, url: str | None = None,
                 max_tokens: int = 128, temperature: float = 0.0):
        self.backend, self.run_id = backend, run_id
        self.params = {"max_tokens": max_tokens, "temperature": temperature}
        self._link = db.Link(url, autocommit=True, vector=False)
        self._lock = threading.Lock()  # one connection shared by the request threads
        self._keys_lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def _execute(self, query: str, params: dict) -> list[dict[str, Any]]:
        """Run on the cache connection under the database retry policy; returns the rows (dicts
        by column name)."""
        def run(conn: psycopg.Connection) -> list[dict[str, Any]]:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []

        with self._lock:
            return self._link.run(run)

    def _claim(self, key: str) -> bool:
        return self._execute(Q.try_claim, {"key": key})[0]["claimed"]

    def close(self) -> None:
        self._link.close()

    def key(self, messages: list[Message]) -> str:
        # backends may add parameters that change the answer (structured output) to the key
        return cache_key(self.backend.name, self.backend.model, messages,
                         {**self.params, **getattr(self.backend, "key_params", {})})

    def lookup(self, key: str) -> tuple[Completion, int] | None:
        rows = self._execute(Q.lookup, {"key": key})
        if not rows:
            return None
        r = rows[0]
        # cached without log-probs while the endpoint now gives them: asked again and replaced
        if r["token_logprobs"] is None and r["answer"] and \
                getattr(self.backend, "logprobs_expected", lambda: False)():
            return None
        return Completion(text=r["answer"], tokens=r["tokens"], token_logprobs=r["token_logprobs"],
                          prompt_tokens=r["prompt_tokens"], completion_tokens=r["completion_tokens"],
                          latency_ms=r["latency_ms"]), r["id"]

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[tuple[Completion, int] | None]:
        """Hold the right to ask ``key``; yields the cached answer if someone stored it first."""
        with self._keys_lock:  # one lock per prompt for this object's life (never swapped)
            local = self._key_locks.setdefault(key, threading.Lock())
        with local:
            found = self.lookup(key)
            while found is None and not self._claim(key):
                time.sleep(self.POLL_SECONDS)  # another process asks this prompt right now
                found = self.lookup(key)
            if found is not None:
                yield found
                return
            try:
                yield self.lookup(key)  # stored between our last lookup and the claim?
            finally:
                with contextlib.suppress(Exception):
                    self._execute(Q.release_claim, {"key": key})

    def complete(self, messages: list[Message]) -> tuple[Completion, int, bool]:
        """(completion, llm_calls.id, cache_hit)."""
        key = self.key(messages)
        found = self.lookup(key)
        if found is None:
            with self.claim(key) as found:
                if found is None:
                    comp = self.backend.complete(messages, **self.params)
                    call_id = self._insert(key, messages, comp)  # stored before anything else
                    self._log(call_id, False, comp.retries)
                    return comp, call_id, False
        comp, call_id = found
        self._log(call_id, True, 0)
        return comp, call_id, True

    def complete_many(self, batch: list[list[Message]]) -> list[tuple[Completion, int, bool] | LLMError]:
        """Like ``complete`` for several prompts: cache hits first, then the misses in one go —
        through the backend's batch decoding (local model) or ``concurrency`` requests in flight
        (endpoints). A request that fails after its retries comes back as its ``LLMError``.
        One request per distinct prompt in flight holds here too: a prompt another worker is
        asking right now is waited for (``complete``), not asked again."""
        out: list[tuple[Completion, int, bool] | LLMError | None] = [None] * len(batch)
        misses: dict[str, list[int]] = {}
        for i, messages in enumerate(batch):
            key = self.key(messages)
            found = self.lookup(key)
            if found is None:
                misses.setdefault(key, []).append(i)
                continue
            out[i] = (found[0], found[1], True)
            self._log(found[1], True, 0)
        if misses and hasattr(self.backend, "complete_batch"):
            mine = [k for k in misses if self._claim(k)]
            try:
                ask = []
                for k in mine:
                    found = self.lookup(k)  # stored between the lookup and the claim?
                    if found is None:
                        ask.append(k)
                    else:
                        out[misses[k][0]] = (found[0], found[1], True)
                        self._log(found[1], True, 0)
                try:
                    comps = (complete_batch(self.backend, [batch[misses[k][0]] for k in ask], **self.params)
                             if ask else [])
                except LLMError as e:
                    comps = [e] * len(ask)
                for k, comp in zip(ask, comps, strict=True):
                    i = misses[k][0]
                    out[i] = comp if isinstance(comp, LLMError) else self._store(k, batch[i], comp)
            finally:
                for k in mine:
                    with contextlib.suppress(Exception):
                        self._execute(Q.release_claim, {"key": k})
        elif misses:
            workers = max(1, min(self.backend.concurrency, len(misses)))
            firsts = [idx[0] for idx in misses.values()]
            with ThreadPoolExecutor(workers) as ex:
                for i, res in zip(firsts, ex.map(self._complete_or_error, [batch[i] for i in firsts]),
                                  strict=True):
                    out[i] = res
        for idx in misses.values():  # the rest: the same prompt again (a hit), or asked by others
            for i in idx:
                if out[i] is None:
                    out[i] = self._complete_or_error(batch[i])
        return [r for r in out if r is not None]

    def _complete_or_error(self, messages: list[Message]) -> tuple[Completion, int, bool] | LLMError:
        try:
            return self.complete(messages)
        except LLMError as e:
            return e

    def _store(self, key: str, messages: list[Message], comp: Completion) -> tuple[Completion, int, bool]:
        call_id = self._insert(key, messages, comp)  # stored before anything else
        self._log(call_id, False, comp.retries)
        return comp, call_id, False

    def _insert(self, key: str, messages: list[Message], comp: Completion) -> int:
        rows = self._execute(Q.insert_call, {
            "key": key, "backend": self.backend.name, "model": self.backend.model,
            "request": Jsonb({"messages": messages, **self.params}), "answer": comp.text,
            "tokens": comp.tokens, "logprobs": comp.token_logprobs,
            "prompt_tokens": comp.prompt_tokens, "completion_tokens": comp.completion_tokens,
            "latency_ms": comp.latency_ms})
        if not rows and comp.token_logprobs is not None:
            # cached without log-probs before the endpoint gave them: keep the new answer
            rows = self._execute(Q.refresh_call, {
                "key": key, "answer": comp.text, "tokens": comp.tokens,
                "logprobs": comp.token_logprobs, "prompt_tokens": comp.prompt_tokens,
                "completion_tokens": comp.completion_tokens, "latency_ms": comp.latency_ms})
        if not rows:  # stored already (another worker, or our own insert before a reconnect)
            rows = self._execute(Q.lookup, {"key": key})
        return rows[0]["id"]

    def _log(self, call_id: int, hit: bool, retries: int) -> None:
        self._execute(Q.log_request, {"run_id": self.run_id, "call_id": call_id,
                                      "cache_hit": hit, "retries": retries})


def usage(conn: psycopg.Connection, run_id: int | None = None) -> list[dict]:
    """Per run: requests, cache hits, calls, tokens, LLM seconds (sum of latencies), wall-clock
    seconds of the LLM work, share of answers with a known perplexity, and money (USD, from
    ``llm_prices``; None when a paid call's model has no price)."""
    from allabel.llm.pricing import money_by_run

    money = money_by_run(conn.execute(Q.usage_by_model, {"run_id": run_id}).fetchall())
    out = []
    for row in db.rows(conn, Q.usage, {"run_id": run_id}):
        row["llm_seconds"] = float(row["llm_seconds"])
        row["money"] = money.get(row["run"], 0.0)
        out.append(row)
    return out
