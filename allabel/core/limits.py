"""Limits of names a user types, checked before the database sees them.

The schema has CHECK constraints (``datasets.name`` 1-200 characters, ``sentences.split`` 1-100);
hitting one from a command would be a traceback. These checks turn them into one line naming
the argument (exit code 3, a usage error)."""

from __future__ import annotations

from allabel.core.errors import ConfigError, InputError

MAX_DATASET = 200
MAX_SPLIT = 100
MAX_LABEL = 200
# One sentence of an input file: at most a million characters (a whole article pasted as one
# line still fits; the BM25 tsvector of a sentence must stay under Postgres's 1 MB), and no
# token (a run of non-space characters, or a CoNLL token) over 2,000 characters: nothing longer
# is a word (a base64 blob, a table pasted without spaces), and Postgres's text search drops
# words over 2,047 bytes, so it could never be found.
MAX_SENTENCE = 1_000_000
MAX_TOKEN = 2_000


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


def check_label_name(path: str, line: int | None, name: str) -> None:
    """A label name of an input file within the schema's limit (exit 2, naming the file)."""
    if len(name) > MAX_LABEL:
        raise InputError(path, line, f"label name {name[:40]!r}... has {len(name):,} characters, "
                                     f"at most {MAX_LABEL} allowed")


def check_sentence_size(path: str, line: int | None, text: str, tokens: list[str] | None) -> None:
    """A sentence and its longest token within MAX_SENTENCE / MAX_TOKEN (exit 2, file:line)."""
    if len(text) > MAX_SENTENCE:
        raise InputError(path, line, f"sentence of {len(text):,} characters, at most "
                                     f"{MAX_SENTENCE:,} allowed")
    if len(text) <= MAX_TOKEN:  # no token can be longer than its sentence: the common case
        return
    longest = max(map(len, tokens if tokens else text.split()), default=0)
    if longest > MAX_TOKEN:
        raise InputError(path, line, f"a token of {longest:,} characters, at most {MAX_TOKEN:,} "
                                     f"allowed")
