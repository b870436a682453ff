"""Progress bars, decided in one place: only when the caller wants one and stderr is a terminal.

Why: under cron, in CI or with ``2>>log`` a bar is hundreds of carriage-return frames in a log
file. Jobs print their one-line summaries anyway; the bar is for a person watching.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def bars_wanted(show: bool = True) -> bool:
    """True when a bar may be drawn: asked for, and stderr is an interactive terminal."""
    if not show:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def bar(total: int | None = None, *, show: bool = True, **kwargs: Any):
    """A ``tqdm`` bar (a no-op object when ``bars_wanted`` says no)."""
    from tqdm import tqdm

    return tqdm(total=total, disable=not bars_wanted(show), **kwargs)


def note(message: str, *, show: bool = True) -> None:
    """One line on stderr for a step of long work (an experiment's cell, for one).

    Why: off a terminal no bar is drawn, and a job that runs for hours under cron or ``nohup``
    would otherwise print nothing until it ends. On a terminal ``tqdm.write`` keeps the line
    above the bar instead of breaking it."""
    if not show:
        return
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def silence_other_bars() -> None:
    """Off a terminal, also switch off the bars libraries draw themselves (transformers' GGUF
    conversion, for one) through tqdm's ``TQDM_DISABLE``. tqdm reads it when first imported, so
    the CLI calls this before any heavy import."""
    if not bars_wanted():
        os.environ.setdefault("TQDM_DISABLE", "1")
