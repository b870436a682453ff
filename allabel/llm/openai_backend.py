"""Any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, Ollama, LM Studio) via ``openai``.

Chat completions asking for log-probs the way every common server answers them: ``logprobs``
*and* ``top_logprobs`` (llama.cpp's server answers ``"logprobs": null`` to ``logprobs`` alone;
old vLLM rejected ``logprobs`` without ``top_logprobs``). A server that rejects an optional field
(HTTP 400/422 naming it) is asked again without it, once, and the endpoint is remembered
(``llm_endpoints``). A timeout per request; retries on 429, 5xx, timeouts and connection errors,
waiting what the server asks for (``Retry-After``, ``retry-after-ms``, ``x-ratelimit-reset-*``)
or else with exponential backoff; when ``x-ratelimit-remaining-*`` reaches 0 every thread of the
process pauses until the reset. The key comes from the environment or a key file only and is
never logged.
"""

from __future__ import annotations

import re
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any

import openai
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError, LLMError
from allabel.llm import endpoints
from allabel.llm.base import Completion, Message

# optional request fields, in the order they are given up when a server rejects one
OPTIONAL_FIELDS = ("response_format", "top_logprobs", "logprobs")

# process-wide memory of rejected fields, per (base_url, model); mirrored in llm_endpoints
_DROPPED: dict[tuple[str, str], set[str]] = {}
_DROPPED_LOCK = threading.Lock()
_LOGPROBS: dict[tuple[str, str], bool | None] = {}  # recorded: does the endpoint give log-probs

ANSWER_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "entities",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"entities": {"type": "array", "items": {
                "type": "object",
                "properties": {"text": {"type": "string"}, "label": {"type": "string"}},
                "required": ["text", "label"], "additionalProperties": False}}},
            "required": ["entities"], "additionalProperties": False,
        },
    },
}


def _retryable(e: BaseException) -> bool:
    if isinstance(e, openai.APIStatusError):
        return e.status_code == 429 or e.status_code >= 500
    return isinstance(e, openai.APIConnectionError | openai.APITimeoutError)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(value: str | None) -> float | None:
    """Seconds from '1.5', '20ms', '6m0s', '1h2m3.5s' (OpenAI's x-ratelimit-reset-* format)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def server_wait(headers: Any) -> float | None:
    """How long the server asks us to wait, from a 429/503 response's headers (None: not said)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra:
        secs = parse_duration(ra)
        if secs is not None:
            return secs
        try:  # an HTTP date
            return max(parsedate_to_datetime(ra).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError, IndexError):
            pass
    resets = [parse_duration(headers.get(f"x-ratelimit-reset-{w}")) for w in ("requests", "tokens")]
    resets = [r for r in resets if r is not None]
    return max(resets) if resets else None


def exhausted_wait(headers: Any) -> float | None:
    """After a successful answer: when a ``x-ratelimit-remaining-*`` is 0, the matching reset."""
    if headers is None:
        return None
    waits = []
    for what in ("requests", "tokens"):
        remaining = headers.get(f"x-ratelimit-remaining-{what}")
        if remaining is not None and remaining.strip() in ("0", "0.0"):
            w = parse_duration(headers.get(f"x-ratelimit-reset-{what}"))
            if w is not None:
                waits.append(w)
    return max(waits) if waits else None


def _rejected_field(e: BaseException, sent: dict[str, Any]) -> str | None:
    """The optional field a 400/422 answer names (None: the error is about something else)."""
    if not isinstance(e, openai.APIStatusError) or e.status_code not in (400, 422):
        return None
    text = f"{e.message} {e.body}".lower()
    for name in OPTIONAL_FIELDS:
        if name in sent and name in text:
            # "logprobs" is a substring of "top_logprobs": only blame it when named on its own
            if name == "logprobs" and not re.search(r"(?<!top_)logprobs", text):
                continue
            return name
    return None


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
        self.rate_wait_max = s.llm_rate_wait_max
        self.top_logprobs = s.llm_top_logprobs
        self.response_format = s.llm_response_format
        # part of the cache key only when it changes the answer (structured output)
        self.key_params: dict[str, Any] = (
            {} if self.response_format == "none" else {"response_format": self.response_format})
        self.client = openai.OpenAI(base_url=s.llm_base_url, api_key=s.api_key() or "none",
                                    timeout=s.llm_timeout, max_retries=0)
        self._endpoint = (self.base_url, self.model)
        self._gate_lock = threading.Lock()
        self._not_before = 0.0  # monotonic time before which no request is sent (rate limits)
        self.logprobs_seen: bool | None = None
        with _DROPPED_LOCK:
            if self._endpoint not in _DROPPED:
                _DROPPED[self._endpoint], _LOGPROBS[self._endpoint] = endpoints.load(*self._endpoint)

    def logprobs_expected(self) -> bool:
        """Does this endpoint give log-probs (seen here, or recorded, e.g. by ``llm check``)?
        Cached answers without them are then asked again (see ``CachedLLM``)."""
        if self.logprobs_seen is not None:
            return self.logprobs_seen
        return bool(_LOGPROBS.get(self._endpoint))

    # ---- request fields ---------------------------------------------------------------
    @property
    def dropped(self) -> set[str]:
        return set(_DROPPED.get(self._endpoint, set()))

    def request_fields(self) -> dict[str, Any]:
        """The optional fields this endpoint gets (those it rejected before are left out)."""
        fields: dict[str, Any] = {"logprobs": True}
        if self.top_logprobs is not None:
            fields["top_logprobs"] = self.top_logprobs
        if self.response_format == "json_schema":
            fields["response_format"] = ANSWER_SCHEMA
        elif self.response_format == "json_object":
            fields["response_format"] = {"type": "json_object"}
        dropped = self.dropped
        if "logprobs" in dropped:
            dropped = dropped | {"top_logprobs"}  # top_logprobs requires logprobs
        return {k: v for k, v in fields.items() if k not in dropped}

    def _drop(self, name: str) -> None:
        with _DROPPED_LOCK:
            d = _DROPPED.setdefault(self._endpoint, set())
            if name in d:
                return
            d.add(name)
            snapshot = set(d)
        endpoints.save(*self._endpoint, dropped=snapshot)

    # ---- rate limits ---------------------------------------------------------------------
    def _pause(self, seconds: float) -> None:
        seconds = min(seconds, self.rate_wait_max)
        with self._gate_lock:
            self._not_before = max(self._not_before, time.monotonic() + seconds)

    def _wait_gate(self) -> None:
        delay = self._not_before - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _retry_wait(self, state) -> float:
        """Tenacity wait: what the server asked for, else exponential backoff."""
        e = state.outcome.exception() if state.outcome else None
        if isinstance(e, openai.APIStatusError):
            asked = server_wait(e.response.headers)
            if asked is not None:
                self._pause(asked)  # every thread waits, not just this one
                return 0.0  # the gate does the waiting
        return wait_exponential(multiplier=self.backoff, max=30)(state)

    # ---- the call ------------------------------------------------------------------------
    def _create(self, messages: list[Message], max_tokens: int, temperature: float):
        """One request; a rejected optional field is dropped and the request sent again once."""
        while True:
            fields = self.request_fields()
            self._wait_gate()
            try:
                raw = self.client.chat.completions.with_raw_response.create(
                    model=self.model, messages=messages, max_tokens=max_tokens,
                    temperature=temperature, **fields)
            except openai.APIStatusError as e:
                name = _rejected_field(e, fields)
                if name is None:
                    raise
                self._drop(name)
                continue
            pause = exhausted_wait(raw.headers)
            if pause:
                self._pause(pause)
            return raw.parse()

    def complete(self, messages: list[Message], max_tokens: int,
                 temperature: float) -> Completion:
        attempts = 0
        t0 = time.perf_counter()
        try:
            for attempt in Retrying(
                retry=retry_if_exception(_retryable),
                stop=stop_after_attempt(self.max_retries + 1),
                wait=self._retry_wait,
                reraise=False,
            ):
                with attempt:
                    attempts += 1
                    resp = self._create(messages, max_tokens, temperature)
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
        seen = lps is not None or not text
        if seen != self.logprobs_seen:  # remember what the endpoint does (diagnostics)
            self.logprobs_seen = seen
            _LOGPROBS[self._endpoint] = seen
            endpoints.save(*self._endpoint, logprobs=seen)
        usage = getattr(resp, "usage", None)
        return Completion(text=text, tokens=toks, token_logprobs=lps,
                          prompt_tokens=getattr(usage, "prompt_tokens", None),
                          completion_tokens=getattr(usage, "completion_tokens", None),
                          latency_ms=(time.perf_counter() - t0) * 1000, retries=attempts - 1)

    def list_models(self) -> list[str]:
        """Model ids the endpoint serves (``GET /models``); raises LLMError when unreachable."""
        try:
            return [m.id for m in self.client.models.list()]
        except openai.OpenAIError as e:
            raise LLMError(f"LLM endpoint {self.base_url}: {_describe(e)}") from e


def _describe(e: BaseException | None) -> str:
    if isinstance(e, openai.APIStatusError):
        return f"HTTP {e.status_code}"
    if isinstance(e, openai.APITimeoutError):
        return "timed out"
    if isinstance(e, openai.APIConnectionError):
        return "connection failed (is the endpoint reachable?)"
    return type(e).__name__ if e else "unknown error"
