"""Every LLM request goes through Postgres: ``llm_calls`` is the cache and the bill.

The key is sha256 over backend, model, messages and decoding parameters; an identical request is
served from the table, so re-running a prediction or selection job makes zero new calls. New
calls are written on their own autocommit connection right away: a job that crashes later never
loses a call it paid for. ``run_llm_requests`` logs every request of a run with cache_hit.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg.types.json import Jsonb

from allabel import db
from allabel.errors import LLMError
from allabel.llm.base import Completion, LLMBackend, Message, complete_batch
from allabel.sqlfiles import queries

Q = queries("llm")


def cache_key(backend: str, model: str, messages: list[Message], params: dict) -> str:
    blob = json.dumps({"backend": backend, "model": model, "messages": messages,
                       "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class CachedLLM:
    """A backend behind the ``llm_calls`` cache, accounting requests to ``run_id``."""

    def __init__(self, backend: LLMBackend, run_id: int, url: str | None = None,
                 max_tokens: int = 128, temperature: float = 0.0):
        self.backend, self.run_id = backend, run_id
        self.params = {"max_tokens": max_tokens, "temperature": temperature}
        self._url = url
        self._conn = db.connect(url, autocommit=True, vector=False)
        self._lock = threading.Lock()  # one connection shared by the request threads

    def _execute(self, query: str, params: dict):
        """Run on the cache connection; a lost connection is re-opened once (caller holds lock)."""
        try:
            return self._conn.execute(query, params)
        except psycopg.OperationalError:
            self._conn.close()
            self._conn = db.connect(self._url, autocommit=True, vector=False)
            return self._conn.execute(query, params)

    def close(self) -> None:
        self._conn.close()

    def _key(self, messages: list[Message]) -> str:
        # backends may add parameters that change the answer (structured output) to the key
        return cache_key(self.backend.name, self.backend.model, messages,
                         {**self.params, **getattr(self.backend, "key_params", {})})

    def _lookup(self, key: str):
        """The cached row, or None. An answer cached without log-probs counts as missing when the
        endpoint is now known to give them (it is asked again and replaced, see ``_insert``)."""
        with self._lock:
            row = self._execute(Q.lookup, {"key": key}).fetchone()
        if (row is not None and row[3] is None and row[1]
                and getattr(self.backend, "logprobs_expected", lambda: False)()):
            return None
        return row

    def complete(self, messages: list[Message]) -> tuple[Completion, int, bool]:
        """(completion, llm_calls.id, cache_hit)."""
        key = self._key(messages)
        row = self._lookup(key)
        if row is not None:
            comp = Completion(text=row[1], tokens=row[2], token_logprobs=row[3],
                              prompt_tokens=row[4], completion_tokens=row[5], latency_ms=row[6])
            self._log(row[0], True, 0)
            return comp, row[0], True
        comp = self.backend.complete(messages, **self.params)
        with self._lock:
            call_id = self._insert(key, messages, comp)
        self._log(call_id, False, comp.retries)
        return comp, call_id, False

    def complete_many(self, batch: list[list[Message]]) -> list[tuple[Completion, int, bool] | LLMError]:
        """Like ``complete`` for several prompts: cache hits first, then the misses in one go —
        through the backend's batch decoding (local model) or ``concurrency`` requests in flight
        (endpoints). A request that fails after its retries comes back as its ``LLMError``."""
        out: list[tuple[Completion, int, bool] | LLMError | None] = [None] * len(batch)
        misses: list[tuple[int, str]] = []
        for i, messages in enumerate(batch):
            key = self._key(messages)
            row = self._lookup(key)
            if row is None:
                misses.append((i, key))
                continue
            out[i] = (Completion(text=row[1], tokens=row[2], token_logprobs=row[3],
                                 prompt_tokens=row[4], completion_tokens=row[5], latency_ms=row[6]),
                      row[0], True)
            self._log(row[0], True, 0)
        if misses and hasattr(self.backend, "complete_batch"):
            try:
                comps = complete_batch(self.backend, [batch[i] for i, _ in misses], **self.params)
            except LLMError as e:
                comps = [e] * len(misses)
            for (i, key), comp in zip(misses, comps, strict=True):
                out[i] = comp if isinstance(comp, LLMError) else self._store(key, batch[i], comp)
        elif misses:
            def ask(miss: tuple[int, str]) -> tuple[Completion, int, bool] | LLMError:
                i, key = miss
                try:
                    return self._store(key, batch[i], self.backend.complete(batch[i], **self.params))
                except LLMError as e:
                    return e

            workers = max(1, min(self.backend.concurrency, len(misses)))
            with ThreadPoolExecutor(workers) as ex:
                for (i, _), res in zip(misses, ex.map(ask, misses), strict=True):
                    out[i] = res
        return [r for r in out if r is not None]

    def _store(self, key: str, messages: list[Message], comp: Completion) -> tuple[Completion, int, bool]:
        with self._lock:
            call_id = self._insert(key, messages, comp)
        self._log(call_id, False, comp.retries)
        return comp, call_id, False

    def _insert(self, key: str, messages: list[Message], comp: Completion) -> int:
        row = self._execute(Q.insert_call, {
            "key": key, "backend": self.backend.name, "model": self.backend.model,
            "request": Jsonb({"messages": messages, **self.params}), "answer": comp.text,
            "tokens": comp.tokens, "logprobs": comp.token_logprobs,
            "prompt_tokens": comp.prompt_tokens, "completion_tokens": comp.completion_tokens,
            "latency_ms": comp.latency_ms}).fetchone()
        if row is None and comp.token_logprobs is not None:
            # cached without log-probs before the endpoint gave them: keep the new answer
            row = self._execute(Q.refresh_call, {
                "key": key, "answer": comp.text, "tokens": comp.tokens,
                "logprobs": comp.token_logprobs, "prompt_tokens": comp.prompt_tokens,
                "completion_tokens": comp.completion_tokens,
                "latency_ms": comp.latency_ms}).fetchone()
        if row is None:  # another worker stored the same request meanwhile
            row = self._execute(Q.lookup, {"key": key}).fetchone()
        return row[0]

    def _log(self, call_id: int, hit: bool, retries: int) -> None:
        with self._lock:
            self._execute(Q.log_request, {"run_id": self.run_id, "call_id": call_id,
                                          "cache_hit": hit, "retries": retries})


def usage(conn: psycopg.Connection, run_id: int | None = None) -> list[dict]:
    """Per run: requests, cache hits, calls, tokens, LLM seconds (sum of latencies), wall-clock
    seconds of the LLM work, share of answers with a known perplexity, and money (USD, from
    ``llm_prices``; None when a paid call's model has no price)."""
    from allabel.llm.pricing import money_by_run

    cols = ["run", "kind", "dataset", "status", "requests", "cache_hits", "calls", "retries",
            "prompt_tokens", "completion_tokens", "llm_seconds", "wall_seconds",
            "perplexity_known_share"]
    money = money_by_run(conn.execute(Q.usage_by_model, {"run_id": run_id}).fetchall())
    out = []
    for r in conn.execute(Q.usage, {"run_id": run_id}):
        row = dict(zip(cols, r, strict=True))
        row["llm_seconds"] = float(row["llm_seconds"])
        row["money"] = money.get(row["run"], 0.0)
        out.append(row)
    return out
