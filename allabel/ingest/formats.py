"""Readers for the three input formats. Each turns a file into validated ``ParsedSentence``s or
raises ``InputError(path, line, reason)`` — nothing is written to the database here, so a bad file
never leaves half an ingest behind."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from allabel.errors import InputError

FORMATS = ("conll", "jsonl", "text")
EXTENSIONS = {
    ".tsv": "conll", ".conll": "conll", ".iob": "conll", ".bio": "conll", ".iob2": "conll",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "text",
}
_TAG = re.compile(r"^(?:O|([BI])-(\S+))$")
# CoNLL-U style comment lines "# key = value" (what allabel export writes: sentence_id,
# entities_source, skipped_span, doc_id). A token line "#<TAB>O" does not match.
COMMENT = re.compile(r"^#\s*([A-Za-z_][\w.-]*)\s*=\s?(.*)$")


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


def decode_lines(path: Path) -> list[str]:
    """The file's lines as text; invalid UTF-8 / NUL bytes / empty file are errors with a line."""
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
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _check_spans(path: Path, line: int, text: str, spans: list[Span]) -> None:
    seen: set[tuple[int, int, str]] = set()
    for sp in spans:
        if not (0 <= sp.start < sp.end <= len(text)):
            raise InputError(str(path), line,
                             f"span [{sp.start}, {sp.end}) lies outside the text (length {len(text)})")
        if text[sp.start:sp.end] != sp.text:
            raise InputError(str(path), line,
                             f"span [{sp.start}, {sp.end}) is {text[sp.start:sp.end]!r} "
                             f"but the entity says {sp.text!r}")
        key = (sp.start, sp.end, sp.label)
        if key in seen:
            raise InputError(str(path), line,
                             f"duplicate span [{sp.start}, {sp.end}) {sp.label}")
        seen.add(key)


def iob_token_spans(path: Path, tags: list[tuple[int, str]]) -> list[tuple[int, int, str]]:
    """Token spans (first, last, label) of one sentence's IOB2 tags, given as (line, tag);
    malformed tags and I- tags that do not continue an entity of their type are errors."""
    spans: list[tuple[int, int, str]] = []
    cur: tuple[int, str] | None = None  # (first token index, label)
    for i, (ln, tag) in enumerate(tags):
        if tag == "O":  # the common case, without the regex
            if cur is not None:
                spans.append((cur[0], i - 1, cur[1]))
                cur = None
            continue
        m = _TAG.match(tag)
        if m is None:
            raise InputError(str(path), ln, f"malformed tag {tag!r} (expected O, B-X or I-X)")
        kind, label = m.group(1), m.group(2)
        if kind == "I":
            if cur is None or cur[1] != label:
                prev = tags[i - 1][1] if i else "sentence start"
                raise InputError(str(path), ln, f"invalid IOB2: {tag} follows {prev} (must follow "
                                 f"B-{label} or I-{label})")
            continue
        if cur is not None:
            spans.append((cur[0], i - 1, cur[1]))
            cur = None
        if kind == "B":
            cur = (i, label)
    if cur is not None:
        spans.append((cur[0], len(tags) - 1, cur[1]))
    return spans


def parse_conll(path: Path, lines: list[str]) -> Iterator[ParsedSentence]:
    """token<TAB>tag (or token tag) lines, blank line between sentences, IOB2 tags;
    ``-DOCSTART-`` lines start a new document; ``# key = value`` comment lines are skipped, except
    ``# doc_id = D`` which sets the document of the sentences that follow."""
    doc_id: str | None = None
    n_docs = 0
    toks: list[tuple[int, str, str]] = []

    def flush() -> ParsedSentence | None:
        if not toks:
            return None
        tokens = [t for _, t, _ in toks]
        starts, pos = [], 0
        for t in tokens:
            starts.append(pos)
            pos += len(t) + 1
        text = " ".join(tokens)
        spans = [_span(text, starts, tokens, i, j, label)
                 for i, j, label in iob_token_spans(path, [(ln, tag) for ln, _, tag in toks])]
        first = toks[0][0]
        toks.clear()
        return ParsedSentence(first, text, doc_id, tokens, starts, spans)

    for ln, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            s = flush()
            if s:
                yield s
            continue
        m = COMMENT.match(line) if line.startswith("#") and "\t" not in line else None
        if m:
            if m.group(1) == "doc_id":
                doc_id = m.group(2).strip() or None
            continue
        if line.startswith("-DOCSTART-"):
            s = flush()
            if s:
                yield s
            n_docs += 1
            rest = line[len("-DOCSTART-"):].split()
            doc_id = rest[0] if rest and rest[0] not in ("O", "-X-") else f"doc{n_docs}"
            continue
        parts = raw.split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1].strip():
            parts = [p for p in (p.strip() for p in (parts if len(parts) > 1 else raw.split())) if p]
        if len(parts) < 2:
            raise InputError(str(path), ln, f"malformed line {raw!r}: expected 'token<TAB>tag'")
        toks.append((ln, parts[0].strip(), parts[-1].strip()))
    s = flush()
    if s:
        yield s


def _span(text: str, starts: list[int], tokens: list[str], i: int, j: int, label: str) -> Span:
    start, end = starts[i], starts[j] + len(tokens[j])
    return Span(start, end, label, text[start:end])


def parse_jsonl(path: Path, lines: list[str]) -> Iterator[ParsedSentence]:
    """One JSON object a line: {"text", "entities": [{"start", "end", "label", "text"?}], "doc_id"?}.
    Nested and overlapping entities are kept."""
    for ln, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InputError(str(path), ln, f"not valid JSON: {e.msg} at column {e.colno}") from None
        if not isinstance(obj, dict):
            raise InputError(str(path), ln, "expected a JSON object")
        text = obj.get("text")
        if not isinstance(text, str):
            raise InputError(str(path), ln, 'missing or non-string "text"')
        if not text.strip():
            raise InputError(str(path), ln, 'empty "text"')
        ents = obj.get("entities", [])
        if not isinstance(ents, list):
            raise InputError(str(path), ln, '"entities" must be a list')
        spans = []
        for k, e in enumerate(ents):
            if not isinstance(e, dict):
                raise InputError(str(path), ln, f"entity {k} is not an object")
            st, en, lab = e.get("start"), e.get("end"), e.get("label")
            if not (isinstance(st, int) and isinstance(en, int)) or isinstance(st, bool) \
                    or isinstance(en, bool):
                raise InputError(str(path), ln, f'entity {k}: "start" and "end" must be integers')
            if not isinstance(lab, str) or not lab.strip():
                raise InputError(str(path), ln, f'entity {k}: missing "label"')
            surface = e.get("text")
            if surface is not None and not isinstance(surface, str):
                raise InputError(str(path), ln, f'entity {k}: "text" must be a string')
            if not (0 <= st < en <= len(text)):
                raise InputError(str(path), ln,
                                 f"entity {k}: span [{st}, {en}) lies outside the text "
                                 f"(length {len(text)})")
            spans.append(Span(st, en, lab, surface if surface is not None else text[st:en]))
        _check_spans(path, ln, text, spans)
        doc = obj.get("doc_id")
        yield ParsedSentence(ln, text, None if doc is None else str(doc), None, None, spans)


def parse_text(path: Path, lines: list[str]) -> Iterator[ParsedSentence]:
    """One unlabeled sentence a line; blank lines are skipped."""
    for ln, raw in enumerate(lines, start=1):
        if raw.strip():
            yield ParsedSentence(ln, raw.strip())


PARSERS = {"conll": parse_conll, "jsonl": parse_jsonl, "text": parse_text}


def parse_file(path: Path, fmt: str) -> list[ParsedSentence]:
    lines = decode_lines(path)
    sentences = list(PARSERS[fmt](path, lines))
    if not sentences:
        raise InputError(str(path), None, "empty file: no sentences")
    for s in sentences:  # a JSON "\u0000" escape gets past the byte check above
        if "\x00" in s.text or "\x00" in (s.doc_id or "") or any("\x00" in e.label for e in s.entities):
            raise InputError(str(path), s.line, "NUL character: Postgres text cannot store it")
    return sentences
