"""Masking of secrets in anything we print, log or store.

Why one function: URLs with passwords (database, LLM endpoint), API keys and tokens reach
messages from many places (our errors, psycopg's, the OpenAI client's). Every ``AllabelError``
message, every error stored in ``runs`` / ``predictions``, every stored endpoint and every line
the CLI prints about an error goes through :func:`mask`.
"""

from __future__ import annotations

import re
import threading

_USERINFO = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)[^@\s]*@")
_QUERY = re.compile(r"(?i)(?P<pre>[?&;](?:password|passwd|pwd|api[_-]?key|key|token|access_token|"
                    r"secret|sig|signature|auth)=)[^&\s#]+?(?=$|[&\s#]|:(?:\s|$))")
# (the lazy match stops before a ": " that follows the URL in a message, "URL: reason")
_BEARER = re.compile(r"(?i)(?P<pre>\bbearer\s+)[A-Za-z0-9._~+/=\-]+")
_KV = re.compile(r"(?i)(?P<pre>\b(?:password|passwd|api_key)\s*=\s*)'?[^\s'&]+'?")
MASK = "***"
_known: set[str] = set()
_lock = threading.Lock()


def remember(*values: str | None) -> None:
    """Secret values to mask from now on, wherever they appear: the configuration registers the
    API key and URL passwords it reads (``allabel.core.config.get_settings``), the embedded server
    the TCP passwords it generates or reads. A registry rather than a lookup of the settings, so
    that this module needs nothing of allabel (every error is masked through it)."""
    with _lock:
        _known.update(v for v in values if v and len(v) >= 4)


def _configured_secrets() -> list[str]:
    """The secret values registered so far, longest first (a key that contains another is
    masked whole)."""
    with _lock:
        return sorted(_known, key=len, reverse=True)


def mask(text: str | None) -> str | None:
    """``text`` with URL passwords, secret query parameters, bearer tokens and the configured
    secret values replaced by ``***``."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: m.group("pre") + MASK + "@", text)
    text = _QUERY.sub(lambda m: m.group("pre") + MASK, text)
    text = _BEARER.sub(lambda m: m.group("pre") + MASK, text)
    text = _KV.sub(lambda m: m.group("pre") + MASK, text)
    for secret in _configured_secrets():
        text = text.replace(secret, MASK)
    return text


def mask_url(url: str | None) -> str | None:
    """An endpoint as it may be stored in a run's parameters: no password, no secret query."""
    return mask(url)
