"""Limits of names a user types, checked before the database sees them.

The schema has CHECK constraints (``datasets.name`` 1-200 characters, ``sentences.split`` 1-100);
hitting one from a command would be a traceback. These checks turn them into one line naming
the argument (exit code 3, a usage error)."""

from __future__ import annotations

from allabel.core.errors import ConfigError

MAX_DATASET = 200
MAX_SPLIT = 100
MAX_LABEL = 200


def check_name(arg: str, value: str | None, limit: int) -> None:
    if value is None:
        return
    if not value.strip():
        raise ConfigError(f"{arg}: must not be empty")
    if len(value) > limit:
        raise ConfigError(f"{arg}: {len(value)} characters, at most {limit} allowed")


def check_names(dataset: str | None = None, split: str | None = None,
                splits: list[str] | None = None) -> None:
    """``--dataset``, ``--split`` (and each of a ``--splits`` list) within the schema's limits."""
    check_name("--dataset", dataset, MAX_DATASET)
    check_name("--split", split, MAX_SPLIT)
    for sp in splits or []:
        check_name("--split", sp, MAX_SPLIT)
