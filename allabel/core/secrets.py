"""Masking of secrets in anything we print, log or store.

Why one function: URLs with passwords (database, LLM endpoint), API keys and tokens reach
messages from many places (our errors, psycopg's, the OpenAI client's). Every ``AllabelError``
message, every error stored in ``runs`` / ``predictions``, every stored endpoint and every line
the CLI prints about an error goes through :func:`mask`.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)[^@\s]*@")
_QUERY = re.compile(r"(?i)(?P<pre>[?&;](?:password|passwd|pwd|api[_-]?key|key|token|access_token|"
                    r"secret|sig|signature|auth)=)[^&\s#]+")
_BEARER = re.compile(r"(?i)(?P<pre>\bbearer\s+)[A-Za-z0-9._~+/=\-]+")
_KV = re.compile(r"(?i)(?P<pre>\b(?:password|passwd|api_key)\s*=\s*)'?[^\s'&]+'?")
MASK = "***"


def _configured_secrets() -> list[str]:
    """The literal secret values of the current configuration (key, URL passwords)."""
    from urllib.parse import urlsplit

    from allabel.core.config import get_settings

    try:
        s = get_settings()
    except Exception:  # noqa: BLE001 - a broken config must not break error reporting
        return []
    out = []
    try:
        key = s.api_key()
    except OSError:
        key = None
    if key:
        out.append(key)
    for url in (s.database_url, s.llm_base_url):
        if url:
            try:
                pw = urlsplit(url).password
            except ValueError:
                pw = None
            if pw:
                out.append(pw)
    return [x for x in out if len(x) >= 4]


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
