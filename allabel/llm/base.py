"""The one LLM interface: chat messages in, answer text and per-token log-probs out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Message = dict[str, str]


@dataclass
class Completion:
    text: str
    tokens: list[str] | None = None
    token_logprobs: list[float] | None = None  # None: the backend gave no log-probs
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    retries: int = 0


class LLMBackend(Protocol):
    name: str        # "local" | "openai"
    model: str       # model name recorded with every call
    concurrency: int  # requests worth keeping in flight

    def complete(self, messages: list[Message], max_tokens: int,
                 temperature: float) -> Completion: ...


def complete_batch(backend: LLMBackend, batch: list[list[Message]], max_tokens: int,
                   temperature: float) -> list[Completion]:
    """Several prompts at once: the backend's own ``complete_batch`` when it has one (the local
    model decodes prompts together), else one ``complete`` after the other."""
    fn = getattr(backend, "complete_batch", None)
    if fn is not None:
        return fn(batch, max_tokens, temperature)
    return [backend.complete(m, max_tokens, temperature) for m in batch]
