"""Character spans and their CoNLL/IOB2 form — one reading for ingest, annotation import and export.

Ingest (``allabel/formats/corpus.py``), import (``allabel/annotate/importer.py``) and export
(``allabel/formats/writers.py``) all go through these functions, so the same bad input gets the
same one-line error (file, line, reason) whichever command reads it.

The one tolerance of CoNLL files (documented in docs/ingest.md, "CoNLL lines"):

* A token line is ``token<TAB>tag``. Other columns are allowed: with tabs, the columns are the
  tab-separated fields (a token may contain spaces); without a tab, the whitespace-separated
  ones (CoNLL-2003's ``token POS chunk tag``). The first column is the token, the last the tag;
  empty columns are ignored. A line with fewer than two columns is an error.
* A blank (or whitespace-only) line ends a sentence. ``-DOCSTART-`` starts a new document and
  ends a sentence.
* ``# key = value`` lines (CoNLL-U comments: what export writes — sentence_id, doc_id,
  entities_source, skipped_span) belong to the sentence that follows; a comment after token
  lines ends the sentence before it. ``# doc_id = D`` sets the document of the sentences that
  follow. A line starting with ``#`` that is not ``# key = value`` (or has a tab, ``#<TAB>O``)
  is a token line.
* Tags are IOB2: ``O``, ``B-X``, ``I-X``; an ``I-X`` must follow ``B-X`` or ``I-X``.

Spans are validated the same way everywhere: inside the text, the surface text (when given)
equal to the text at the offsets, no duplicate (start, end, label), and — when the known labels
are given — a known label.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import ne

from allabel.core.errors import InputError

TAG = re.compile(r"^(?:O|([BI])-(\S+))$")
# CoNLL-U style comment lines "# key = value". A token line "#<TAB>O" does not match.
COMMENT = re.compile(r"^#\s*([A-Za-z_][\w.-]*)\s*=\s?(.*)$")
DOCSTART = "-DOCSTART-"


class SpanError(ValueError):
    """The reason a span is invalid; the caller knows the file and line and raises InputError."""


def check_spans(text: str, spans: Iterable[tuple[int, int, str, str | None]],
                labels: set[str] | None = None) -> None:
    """Raise ``SpanError`` for the first invalid (start, end, label, surface) span of ``text``.

    ``surface`` None means "not given" (no check); ``labels`` None means any label."""
    seen: set[tuple[int, int, str]] = set()
    for start, end, label, surface in spans:
        if not (0 <= start < end <= len(text)):
            raise SpanError(f"span [{start}, {end}) lies outside the text (length {len(text)})")
        if surface is not None and text[start:end] != surface:
            raise SpanError(f"span [{start}, {end}) is {text[start:end]!r} but the entity says {surface!r}")
        if labels is not None and label not in labels:
            raise SpanError(f"unknown label {label!r} (known: {', '.join(sorted(labels))})")
        if (start, end, label) in seen:
            raise SpanError(f"duplicate span [{start}, {end}) {label}")
        seen.add((start, end, label))


def spans_of_json(entities: object) -> list[tuple[int, int, str, str | None]]:
    """(start, end, label, surface) of a JSON ``entities`` list (JSONL of ingest and import):
    ``[{"start": int, "end": int, "label": str, "text": str?}]``; ``SpanError`` names the entity."""
    if not isinstance(entities, list):
        raise SpanError('"entities" must be a list')
    out = []
    for k, e in enumerate(entities):
        if not isinstance(e, dict):
            raise SpanError(f"entity {k} is not an object")
        start, end, label, surface = e.get("start"), e.get("end"), e.get("label"), e.get("text")
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) \
                or isinstance(end, bool):
            raise SpanError(f'entity {k}: "start" and "end" must be integers')
        if not isinstance(label, str) or not label.strip():
            raise SpanError(f'entity {k}: missing "label"')
        if surface is not None and not isinstance(surface, str):
            raise SpanError(f'entity {k}: "text" must be a string')
        out.append((start, end, label, surface))
    return out


# -- tokens and IOB2 ----------------------------------------------------------------------------

def tokens_of(text: str, tokens: list[str] | None, starts: list[int] | None) -> list[tuple[str, int]]:
    """(token, start) pairs: the stored tokenisation, or whitespace tokens of the text."""
    if tokens is not None and starts is not None:
        return list(zip(tokens, starts, strict=True))
    out, pos = [], 0
    for tok in text.split():
        pos = text.index(tok, pos)
        out.append((tok, pos))
        pos += len(tok)
    return out


def iob_decode(path: str, tags: list[tuple[int, str]]) -> list[tuple[int, int, str]]:
    """Token spans (first, last, label) of one sentence's IOB2 tags, given as (line, tag);
    malformed tags and I- tags that do not continue an entity of their type are errors."""
    spans: list[tuple[int, int, str]] = []
    first: int | None = None
    label: str | None = None
    for i, (ln, tag) in enumerate(tags):
        if tag == "O":  # the common case, without the regex
            if first is not None:
                spans.append((first, i - 1, label))
                first = label = None
            continue
        m = TAG.match(tag)
        if m is None:
            raise InputError(path, ln, f"malformed tag {tag!r} (expected O, B-X or I-X)")
        kind, lab = m.group(1), m.group(2)
        if kind == "I":
            if first is None or label != lab:
                prev = tags[i - 1][1] if i else "sentence start"
                raise InputError(path, ln, f"invalid IOB2: {tag} follows {prev} (must follow "
                                 f"B-{lab} or I-{lab})")
            continue
        if first is not None:
            spans.append((first, i - 1, label))
        first, label = i, lab
    if first is not None:
        spans.append((first, len(tags) - 1, label))
    return spans


def iob_decode_tags(path: str, first: int, tags: list[str]) -> list[tuple[int, int, str]]:
    """``iob_decode`` of one sentence's tags on consecutive lines from ``first``: the same spans
    and, for bad tags, the same error (by calling it). Looks only at the tags that are not ``O``
    (found without a Python step per tag), which is what makes it cheaper on long sentences."""
    spans: list[tuple[int, int, str]] = []
    start = prev = -1
    label = None
    for i in compress(count(), map(ne, tags, repeat("O"))):
        m = TAG.match(tags[i])
        if m is None or (m.group(1) == "I" and (start < 0 or prev != i - 1 or label != m.group(2))):
            return iob_decode(path, list(zip(range(first, first + len(tags)), tags, strict=True)))
        if m.group(1) == "B":
            if start >= 0:
                spans.append((start, prev, label))
            start, label = i, m.group(2)
        prev = i
    if start >= 0:
        spans.append((start, prev, label))
    return spans


def iob_encode(toks: list[tuple[str, int]], spans: list[dict]) -> tuple[list[str], list[tuple[dict, str]]]:
    """IOB2 tags for the spans that fit, and (span, reason) for those that do not: ``sub-token``
    (a boundary inside a token), ``nested`` (inside or around a span already tagged),
    ``overlapping`` (crosses one, or the same tokens with another label). Longer spans win."""
    tags = ["O"] * len(toks)
    owner: list[tuple[int, int] | None] = [None] * len(toks)
    by_start = {s: i for i, (_, s) in enumerate(toks)}
    by_end = {s + len(t): i for i, (t, s) in enumerate(toks)}
    skipped = []
    for sp in sorted(spans, key=lambda e: (e["start"], -e["end"], e["label"])):
        a, b = by_start.get(sp["start"]), by_end.get(sp["end"])
        if a is None or b is None or b < a:
            skipped.append((sp, "sub-token"))
            continue
        taken = {owner[i] for i in range(a, b + 1) if owner[i] is not None}
        if taken:
            nested = all((sa <= sp["start"] and sp["end"] <= sb) or (sp["start"] <= sa and sb <= sp["end"])
                         for sa, sb in taken) and (sp["start"], sp["end"]) not in taken
            skipped.append((sp, "nested" if nested else "overlapping"))
            continue
        tags[a] = f"B-{sp['label']}"
        for i in range(a + 1, b + 1):
            tags[i] = f"I-{sp['label']}"
        for i in range(a, b + 1):
            owner[i] = (sp["start"], sp["end"])
    return tags, skipped


# -- CoNLL lines ---------------------------------------------------------------------------------

@dataclass
class ConllSentence:
    """One sentence of a CoNLL file: its token lines and the comment lines before them."""

    line: int                                   # first line (its first comment, else first token)
    rows: list[tuple[int, str, str]] = field(default_factory=list)  # (line, token, tag)
    comments: dict[str, tuple[int, str]] = field(default_factory=dict)  # key -> (line, value)
    doc_id: str | None = None

    @property
    def tokens(self) -> list[str]:
        return [t for _, t, _ in self.rows]

    def token_spans(self, path: str) -> list[tuple[int, int, str]]:
        """(first token, last token, label) of the sentence's IOB2 tags."""
        tags = [tag for _, _, tag in self.rows]
        if tags.count("O") == len(tags):  # most sentences: nothing to decode
            return []
        return iob_decode(path, [(ln, tag) for ln, _, tag in self.rows])


def token_line(path: str, ln: int, raw: str) -> tuple[str, str]:
    """(token, tag) of a token line (see the module's tolerance)."""
    fields = raw.split("\t") if "\t" in raw else raw.split()
    cols = [c.strip() for c in fields if c.strip()]
    if len(cols) < 2:
        raise InputError(path, ln, f"malformed line {raw!r}: expected 'token<TAB>tag'")
    return cols[0], cols[-1]


# Whitespace that str.strip() removes, other than space, tab and newline (rare in CoNLL files)
_ODD_SPACE = re.compile(r"[^\S \t\n]")
_TWO_TABS = re.compile(r"\t[^\n]*\t")


def read_plain_conll(lines: list[str]) -> Iterator[tuple[int, list[str], list[str]]] | None:
    """(first line, tokens, tags) of each sentence of a file whose every line is empty or a
    plain ``token<TAB>tag`` line (one tab, both columns non-blank, no whitespace around them);
    ``None`` for any other file (more columns, comments, ``-DOCSTART-``, whitespace-only lines),
    which ``read_conll`` reads. For such a file both give the same sentences and line numbers;
    this one checks and splits the whole text with string methods instead of looking at each
    line in Python (ingest spent most of its client time on CoNLL lines). Tags are not decoded
    here (``iob_decode``)."""
    text = "\n".join(lines)
    if (text.count("\t") != len(lines) - lines.count("")  # a tab a line, if no line has two
            or _TWO_TABS.search(text) or DOCSTART in text or _ODD_SPACE.search(text)
            or any(p in text for p in (" \t", "\t ", " \n", "\n ", "\t\n", "\n\t"))
            or text[:1] in (" ", "\t") or text[-1:] in (" ", "\t")):
        return None
    return _plain_blocks(text)


def _plain_blocks(text: str) -> Iterator[tuple[int, list[str], list[str]]]:
    ln = 1  # line number of the block's first line
    for block in text.split("\n\n"):  # more blank lines leave newlines at a block's start
        body = block.lstrip("\n") if block[:1] == "\n" else block
        first = ln + len(block) - len(body)
        ln += block.count("\n") + 2
        if body[-1:] == "\n":  # the text's last line may be empty
            body = body.rstrip("\n")
        if body:
            cells = body.replace("\t", "\n").split("\n")  # token, tag, token, tag, ...
            yield first, cells[0::2], cells[1::2]


def read_conll(path: str, lines: Iterable[str]) -> Iterator[ConllSentence]:
    """The sentences of a CoNLL file's lines (1-based line numbers), in order."""
    doc_id: str | None = None
    n_docs = 0
    cur: ConllSentence | None = None
    for ln, raw in enumerate(lines, start=1):
        # The common line first, with the same outcome as the general path below: exactly one
        # tab and both columns non-blank is a token line (a tab rules out a comment; with the
        # tab past its tenth character only the token can start with -DOCSTART-).
        tok, _, tag = raw.partition("\t")
        if tag and "\t" not in tag:
            tok, tag = tok.strip(), tag.strip()
            if tok and tag and not tok.startswith(DOCSTART):
                if cur is None:
                    cur = ConllSentence(ln, doc_id=doc_id)
                cur.rows.append((ln, tok, tag))
                continue
        line = raw.strip()
        m = COMMENT.match(line) if line.startswith("#") and "\t" not in line else None
        if not line or line.startswith(DOCSTART) or (m and cur is not None and cur.rows):
            if cur is not None and cur.rows:
                yield cur
            cur = None
        if not line:
            continue
        if line.startswith(DOCSTART):
            n_docs += 1
            rest = line[len(DOCSTART):].split()
            doc_id = rest[0] if rest and rest[0] not in ("O", "-X-") else f"doc{n_docs}"
            continue
        if cur is None:
            cur = ConllSentence(ln, doc_id=doc_id)
        if m:
            key, value = m.group(1), m.group(2).strip()
            cur.comments[key] = (ln, value)
            if key == "doc_id":
                doc_id = cur.doc_id = value or None
            continue
        cur.rows.append((ln, *token_line(path, ln, raw)))
    if cur is not None and cur.rows:
        yield cur
