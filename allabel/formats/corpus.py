"""Readers for the three input formats, found by name in ``PARSERS``. Each turns a file into
validated ``ParsedSentence``s or raises ``InputError(path, line, reason)`` — nothing is written to
the database here, so a bad file never leaves half an ingest behind. Span validation and CoNLL
lines are ``allabel.formats.spans`` (shared with annotation import and export)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import add
from pathlib import Path

from allabel.core.errors import InputError
from allabel.formats.spans import (
    SpanError,
    check_spans,
    iob_decode_tags,
    read_conll,
    read_plain_conll,
    spans_of_json,
)

EXTENSIONS = {
    ".tsv": "conll", ".conll": "conll", ".iob": "conll", ".bio": "conll", ".iob2": "conll",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "text",
}


@dataclass
class Span:
    start: int
    end: int
    label: str
    text: str


@dataclass
class ParsedSentence:
    line: int                      # first line of the sentence in the file (1-based)
    text: str
    doc_id: str | None = None
    tokens: list[str] | None = None
    token_starts: list[int] | None = None
    entities: list[Span] = field(default_factory=list)


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(str(path), None, f"unknown format {fmt!r} (use one of {', '.join(FORMATS)})")
        return fmt
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise InputError(
            str(path), None,
            f"unknown format for extension {path.suffix or '(none)'!r}; pass --format "
            f"({', '.join(FORMATS)})",
        )
    return found


def decode_lines(path: Path, data: bytes | None = None) -> list[str]:
    """The file's lines as text (``data``: its bytes, when already read); invalid UTF-8 / NUL
    bytes / empty file are errors with a line."""
    if data is None:
        data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(str(path), line, f"invalid UTF-8 (byte 0x{data[e.start]:02x})") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InputError(str(path), line, "NUL byte: Postgres text cannot store it")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if "\r" not in text:
        return lines
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def parse_conll(path: Path, lines: list[str]) -> Iterator[ParsedSentence]:
    """CoNLL/IOB2 as read by ``allabel.formats.spans.read_conll`` (its docstring states the tolerance);
    text = the tokens joined by one space; ``-DOCSTART-`` and ``# doc_id = D`` set the document.
    A file of plain ``token<TAB>tag`` lines is read a sentence at a time (``read_plain_conll``,
    same result)."""
    plain = read_plain_conll(lines)
    if plain is not None:
        for first, tokens, tags in plain:
            spans = [] if tags.count("O") == len(tags) else iob_decode_tags(str(path), first, tags)
            yield _sentence(first, None, tokens, spans)
        return
    for sent in read_conll(str(path), lines):
        yield _sentence(sent.line, sent.doc_id, sent.tokens, sent.token_spans(str(path)))


def _sentence(line: int, doc_id: str | None, tokens: list[str],
              token_spans: list[tuple[int, int, str]]) -> ParsedSentence:
    """A CoNLL sentence: text = tokens joined by one space, character spans of the token spans."""
    starts = list(accumulate(map(add, map(len, tokens), repeat(1)), initial=0))
    starts.pop()  # offsets of tokens joined by one space
    text = " ".join(tokens)
    spans = []
    for i, j, label in token_spans:
        start, end = starts[i], starts[j] + len(tokens[j])
        spans.append(Span(start, end, label, text[start:end]))
    return ParsedSentence(line, text, doc_id, tokens, starts, spans)


def json_lines(path: Path, lines: list[str]) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a JSONL file (ingest and import)."""
    for ln, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InputError(str(path), ln, f"not valid JSON: {e.msg} at column {e.colno}") from None
        if not isinstance(obj, dict):
            raise InputError(str(path), ln, "expected a JSON object")
        yield ln, obj


def parse_jsonl(path: Path, lines: list[str]) -> Iterator[ParsedSentence]:
    """One JSON object a line: {"text", "entities": [{"start", "end", "label", "text"?}], "doc_id"?}.
    Nested and overlapping entities are kept."""
    for ln, obj in json_lines(path, lines):
        text = obj.get("text")
        if not isinstance(text, str):
            raise InputError(str(path), ln, 'missing or non-string "text"')
        if not text.strip():
            raise InputError(str(path), ln, 'empty "text"')
        try:
            spans = spans_of_json(obj.get("entities", []))
            check_spans(text, spans)
        except SpanError as e:
            raise InputError(str(path), ln, str(e)) from None
        doc = obj.get("doc_id")
        yield ParsedSentence(ln, text, None if doc is None else str(doc), None, None,
                             [Span(a, b, lab, text[a:b]) for a, b, lab, _ in spans])


def parse_text(path: Path, lines: list[str]) -> Iterator[ParsedSentence]:
    """One unlabeled sentence a line; blank lines are skipped."""
    for ln, raw in enumerate(lines, start=1):
        if raw.strip():
            yield ParsedSentence(ln, raw.strip())


PARSERS = {"conll": parse_conll, "jsonl": parse_jsonl, "text": parse_text}
FORMATS = tuple(PARSERS)


def iter_file(path: Path, fmt: str, data: bytes | None = None) -> Iterator[ParsedSentence]:
    """The file's sentences one by one, each checked before it is yielded; an empty file raises
    at the end (ingest streams them to the database while it parses)."""
    n = 0
    escapes = fmt == "jsonl"  # only JSON can spell a NUL past the byte check of decode_lines
    for s in PARSERS[fmt](path, decode_lines(path, data)):
        # a JSON "\u0000" escape gets past the byte check of decode_lines
        if escapes and ("\x00" in s.text or "\x00" in (s.doc_id or "")
                        or any("\x00" in e.label for e in s.entities)):
            raise InputError(str(path), s.line, "NUL character: Postgres text cannot store it")
        n += 1
        yield s
    if not n:
        raise InputError(str(path), None, "empty file: no sentences")


def parse_file(path: Path, fmt: str) -> list[ParsedSentence]:
    return list(iter_file(path, fmt))
