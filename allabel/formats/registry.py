"""The one registry of text formats: for each name, what allabel can do with it.

| format | ingest (a corpus) | import (annotations of a run) | export |
|---|---|---|---|
| ``conll`` | ``corpus.parse_conll`` | ``annotations._conll`` | ``writers.ConllWriter`` |
| ``jsonl`` | ``corpus.parse_jsonl`` | ``annotations._jsonl`` | ``writers.JsonlWriter`` |
| ``labelstudio`` | | ``annotations._labelstudio`` | ``writers.LabelStudioWriter`` |
| ``text`` | ``corpus.parse_text`` | | |

The readers and writers live beside their format family (``corpus.py``, ``annotations.py``,
``writers.py``); ingest, import and export look a format up here, so a name means the same
format everywhere and an unsupported direction is one clear error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from allabel.core.errors import ConfigError
from allabel.formats import annotations, corpus, writers


@dataclass(frozen=True)
class TextFormat:
    name: str
    extensions: tuple[str, ...]          # file name endings ingest recognises
    read_corpus: Callable[[Path, list[str]], Iterator[corpus.ParsedSentence]] | None
    read_annotations: annotations.ImportFormat | None
    writer: type[writers.Writer] | None


FORMATS: dict[str, TextFormat] = {
    name: TextFormat(name, tuple(ext for ext, f in corpus.EXTENSIONS.items() if f == name),
                     corpus.PARSERS.get(name), annotations.READERS.get(name), writers.WRITERS.get(name))
    for name in dict.fromkeys([*corpus.PARSERS, *annotations.READERS, *writers.WRITERS])
}


def _can(what: str, attr: str) -> list[str]:
    return [f.name for f in FORMATS.values() if getattr(f, attr) is not None]


def writer(name: str) -> type[writers.Writer]:
    """The export writer of a format, or a usage error naming the formats that can be written."""
    f = FORMATS.get(name)
    if f is None or f.writer is None:
        raise ConfigError(f"unknown export format {name!r}; one of {', '.join(_can('export', 'writer'))}")
    return f.writer


def import_reader(name: str) -> annotations.ImportFormat:
    """The annotation reader of a format (``allabel import``)."""
    f = FORMATS.get(name)
    if f is None or f.read_annotations is None:
        raise ConfigError(f"unknown import format {name!r}; one of "
                          f"{', '.join(_can('import', 'read_annotations'))}")
    return f.read_annotations


def exportable() -> tuple[str, ...]:
    return tuple(_can("export", "writer"))
