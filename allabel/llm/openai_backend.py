"""Any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, Ollama) via ``openai``.

Chat completions with ``logprobs``; a timeout per request; retries with exponential backoff
(tenacity) on 429, 5xx, timeouts and connection errors; the key comes from the environment or a
key file only and is never logged.
"""

from __future__ import annotations

import time

import openai
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from allabel.config import get_settings
from allabel.errors import ConfigError, LLMError
from allabel.llm.base import Completion, Message


def _retryable(e: BaseException) -> bool:
    if isinstance(e, openai.APIStatusError):
        return e.status_code == 429 or e.status_code >= 500
    return isinstance(e, openai.APIConnectionError | openai.APITimeoutError)


class OpenAIBackend:
    name = "openai"

    def __init__(self) -> None:
        s = get_settings()
        if not s.llm_base_url:
            raise ConfigError("llm_base_url (ALLABEL_LLM_BASE_URL) is not set")
        if not s.llm_model:
            raise ConfigError("llm_model (ALLABEL_LLM_MODEL) is not set for the openai backend")
        self.model = s.llm_model
        self.base_url = s.llm_base_url
        self.concurrency = s.llm_concurrency
        self.max_retries = s.llm_max_retries
        self.backoff = s.llm_backoff
        self.client = openai.OpenAI(base_url=s.llm_base_url, api_key=s.api_key() or "none",
                                    timeout=s.llm_timeout, max_retries=0)

    def complete(self, messages: list[Message], max_tokens: int,
                 temperature: float) -> Completion:
        attempts = 0
        t0 = time.perf_counter()
        try:
            for attempt in Retrying(
                retry=retry_if_exception(_retryable),
                stop=stop_after_attempt(self.max_retries + 1),
                wait=wait_exponential(multiplier=self.backoff, max=30),
                reraise=False,
            ):
                with attempt:
                    attempts += 1
                    resp = self.client.chat.completions.create(
                        model=self.model, messages=messages, max_tokens=max_tokens,
                        temperature=temperature, logprobs=True)
        except RetryError as e:
            last = e.last_attempt.exception()
            raise LLMError(f"LLM endpoint {self.base_url} failed after {attempts} attempts: "
                           f"{_describe(last)}") from last
        except openai.OpenAIError as e:
            raise LLMError(f"LLM endpoint {self.base_url}: {_describe(e)}") from e
        except (ValueError, TypeError, AttributeError) as e:  # body that is not the API's JSON
            raise LLMError(f"LLM endpoint {self.base_url} returned a malformed body "
                           f"({type(e).__name__})") from e
        return self._completion(resp, attempts, t0)

    def _completion(self, resp, attempts: int, t0: float) -> Completion:
        try:
            choice = resp.choices[0]
            text = choice.message.content or ""
        except (AttributeError, IndexError, TypeError) as e:
            raise LLMError(f"LLM endpoint {self.base_url} returned a malformed body") from e
        toks = lps = None
        content = getattr(getattr(choice, "logprobs", None), "content", None)
        if content:
            toks = [c.token for c in content]
            lps = [float(c.logprob) for c in content]
        usage = getattr(resp, "usage", None)
        return Completion(text=text, tokens=toks, token_logprobs=lps,
                          prompt_tokens=getattr(usage, "prompt_tokens", None),
                          completion_tokens=getattr(usage, "completion_tokens", None),
                          latency_ms=(time.perf_counter() - t0) * 1000, retries=attempts - 1)


def _describe(e: BaseException | None) -> str:
    if isinstance(e, openai.APIStatusError):
        return f"HTTP {e.status_code}"
    if isinstance(e, openai.APITimeoutError):
        return "timed out"
    if isinstance(e, openai.APIConnectionError):
        return "connection failed (is the endpoint reachable?)"
    return type(e).__name__ if e else "unknown error"
