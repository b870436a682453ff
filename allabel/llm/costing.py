"""What LLM work will cost before it runs: tokens, time and money of a list of prompts.

The model's own tokenizer counts prompt tokens when the backend offers one (``count_tokens``),
else a linear fit of prompt tokens on prompt characters and messages over the model's recent calls
in ``llm_calls``, else 4 characters a token. Answer tokens and latency are the model's recent means;
time is calls x latency / (concurrency x workers): each worker process has its own requests in
flight (one at a time locally). A prompt already in the cache costs nothing. Every ``--estimate``
(``allabel.predict.estimate``, ``allabel.select.estimate``, ``allabel.experiments.estimate``)
prices its prompts here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg

from allabel.core.config import get_settings
from allabel.llm.base import Message
from allabel.llm.cache import cache_key
from allabel.llm.local import BUNDLED_NAME, BUNDLED_SECONDS_PER_CALL
from allabel.llm.pricing import cost
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("costing")


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
        self.latency_from = "from recent calls"
        if self.latency is None and backend.name == "local" and backend.model == BUNDLED_NAME:
            self.latency = BUNDLED_SECONDS_PER_CALL
            self.latency_from = ("measured for the bundled model on an idle 2-core machine "
                                 "(docs/benchmarks.md; no calls of it here yet)")

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
                               f"{self.latency_from}; concurrency {conc} x {self.workers} worker(s)"]
        return est
