"""LLM access: one interface (``base.LLMBackend``), two backends, and the Postgres cache."""

from __future__ import annotations

from allabel.core.config import Settings, get_settings
from allabel.llm.base import Completion, LLMBackend, Message


def get_backend(settings: Settings | None = None) -> LLMBackend:
    """``openai`` when an endpoint is configured (or forced), else the bundled ``local`` model."""
    s = settings or get_settings()
    if s.effective_llm_backend == "openai":
        from allabel.llm.openai_backend import OpenAIBackend

        return OpenAIBackend()
    from allabel.llm.local import LocalBackend

    return LocalBackend()


__all__ = ["Completion", "LLMBackend", "Message", "get_backend"]
