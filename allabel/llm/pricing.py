"""Money: prices per million prompt / completion tokens per model, from the configuration.

``llm_prices = {"gpt-4o-mini": {"prompt": 0.15, "completion": 0.6}}`` (USD per million tokens).
Calls of the local backend cost nothing; calls collected from a Batch API job are priced with
``llm_batch_discount``. A paid call whose model has no price makes the money unknown (None),
never 0.
"""

from __future__ import annotations

from allabel.core.config import get_settings


def price(backend: str, model: str) -> tuple[float, float] | None:
    """(USD per million prompt tokens, per million completion tokens); None: not configured."""
    if backend == "local":
        return 0.0, 0.0
    p = get_settings().llm_prices.get(model)
    if p is None:
        return None
    return float(p.get("prompt", 0.0)), float(p.get("completion", 0.0))


def cost(backend: str, model: str, prompt_tokens: int, completion_tokens: int,
         via: str = "sync") -> float | None:
    pr = price(backend, model)
    if pr is None:
        return None
    usd = (prompt_tokens * pr[0] + completion_tokens * pr[1]) / 1e6
    return usd * (get_settings().llm_batch_discount if via == "batch" else 1.0)


def money_by_run(rows: list[tuple]) -> dict[int, float | None]:
    """rows: (run, backend, model, via, prompt_tokens, completion_tokens) -> USD per run."""
    out: dict[int, float | None] = {}
    for run, backend, model, via, pt, ct in rows:
        c = cost(backend, model, int(pt), int(ct), via)
        prev = out.get(run, 0.0)
        out[run] = None if c is None or prev is None else prev + c
    return out
