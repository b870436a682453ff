"""Start a real Label Studio from .venv-labelstudio (made by ./scripts/setup) for the tests and
scripts/bench_labelstudio.py: a throw-away data directory, a preset user with a fixed legacy
token, a free port on 127.0.0.1, and no update check, analytics or error reporting (nothing goes
to the network). The start itself is allabel's (``allabel.annotate.labelstudio_server``, the
one ``allabel labelstudio serve`` uses); only the fixed test credentials live here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from allabel.annotate import labelstudio_server as lss
from allabel.core.errors import ConfigError

LABELSTUDIO = lss.executable()
TEMPLATE = lss.template()
LS_USER, LS_TOKEN = "test@allabel.local", "allabel-test-token-0123456789"
Server = lss.Server


@contextmanager
def running_labelstudio(data: Path, timeout: float = 300, use_template: bool = True) -> Iterator[Server]:
    """A Label Studio serving from ``data`` (a new directory: filled from the template when
    there is one) until the block ends. RuntimeError with the log's tail when it cannot start."""
    creds = lss.Credentials(LS_USER, "allabel-test-password", LS_TOKEN)
    try:
        with lss.running(data, creds, timeout=timeout, use_template=use_template,
                         secret_key="allabel-tests-only") as srv:
            yield srv
    except ConfigError as e:
        raise RuntimeError(str(e)) from None
