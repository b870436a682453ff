"""Parse an LLM answer back to exact character spans of the sentence.

Robust by design — nothing here raises on model output:
* ``lines`` format: one ``Type: mention`` line each (``none`` = no entity); other lines are
  dropped and counted; an answer with no usable line and no ``none`` is unparseable.
* ``json`` format: JSON list of {"text", "label"}; code fences and chatter around it are ignored; a truncated list
  is cut back to its last complete object; as a last resort objects are pulled out by regex.
* Each (mention, label) is located in the sentence: exact, then case-insensitive, then
  whitespace-insensitive (the corpus text is tokenised: "Parkinson ' s"), at word boundaries;
  every occurrence is labelled; a mention inside a longer predicted mention of the same label is
  dropped there (flat output, like the gold corpora).
* Labels are matched to the schema case-insensitively; others are dropped and counted.
Status: ok (everything usable), partial (something dropped or repaired), unparseable.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_OBJ = re.compile(r'\{\s*"text"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"label"\s*:\s*"((?:[^"\\]|\\.)*)"\s*\}')


@dataclass
class Entity:
    start: int
    end: int
    label: str
    text: str
    confidence: float | None = None


@dataclass
class Parsed:
    status: str  # ok | partial | unparseable
    entities: list[Entity] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # why items were dropped


def _json_items(answer: str) -> tuple[list | None, bool]:
    """The answer's JSON list, and whether it needed repair."""
    text = answer.strip()
    m = _FENCE.search(text)
    if m:
        text = m.group(1).strip()
    if text.startswith("{"):  # structured output: {"entities": [...]} (llm_response_format)
        try:
            val = json.loads(text)
            if isinstance(val, dict) and isinstance(val.get("entities"), list):
                return val["entities"], False
        except json.JSONDecodeError:
            pass
    start = text.find("[")
    if start < 0:
        return None, False
    end = text.rfind("]")
    if end > start:
        try:
            val = json.loads(text[start:end + 1])
            if isinstance(val, list):
                return val, start > 0 or end < len(text) - 1 and bool(text[end + 1:].strip())
        except json.JSONDecodeError:
            pass
    # truncated: keep complete objects
    body = text[start:]
    cut = body.rfind("}")
    while cut > 0:
        try:
            val = json.loads(body[:cut + 1] + "]")
            if isinstance(val, list):
                return val, True
        except json.JSONDecodeError:
            pass
        cut = body.rfind("}", 0, cut)
    return None, False


def _occurrences(sentence: str, mention: str) -> list[tuple[int, int]]:
    def bounded(pattern: str, flags: int) -> list[tuple[int, int]]:
        out = []
        for m in re.finditer(pattern, sentence, flags):
            a, b = m.span()
            if a == b:
                continue
            if (a > 0 and sentence[a - 1].isalnum() and sentence[a].isalnum()) or \
               (b < len(sentence) and sentence[b].isalnum() and sentence[b - 1].isalnum()):
                continue  # inside a longer word
            out.append((a, b))
        return out

    found = bounded(re.escape(mention), 0)
    if not found:
        found = bounded(re.escape(mention), re.IGNORECASE)
    if not found:
        chars = [re.escape(c) for c in mention if not c.isspace()]
        if chars:
            found = bounded(r"\s*".join(chars), re.IGNORECASE)
    return found


def token_confidence(answer: str, tokens: list[str] | None, logprobs: list[float] | None,
                     a: int, b: int) -> float | None:
    """exp(mean log-prob) of the answer tokens covering answer[a:b]."""
    if not tokens or not logprobs or len(tokens) != len(logprobs):
        return None
    pos, picked = 0, []
    for tok, lp in zip(tokens, logprobs, strict=True):
        if pos < b and pos + len(tok) > a:
            picked.append(lp)
        pos += len(tok)
    return math.exp(sum(picked) / len(picked)) if picked else None


def perplexity(logprobs: list[float] | None) -> float | None:
    """exp(-mean token log-prob); None when unknown (no log-probs), never 0."""
    if not logprobs:
        return None
    return math.exp(-sum(logprobs) / len(logprobs))


def _json_wanted(answer: str) -> tuple[list[tuple[str, str, int]] | None, bool, list[str]]:
    """(mention, label, position in the answer or -1) items of a JSON answer; None: unparseable."""
    items, repaired = _json_items(answer)
    if items is None:
        found = [{"text": json.loads(f'"{t}"'), "label": json.loads(f'"{lab}"')}
                 for t, lab in _OBJ.findall(answer)]
        if not found:
            return None, False, ["no JSON list in the answer"]
        items, repaired = found, True
    out: list[tuple[str, str, int]] = []
    dropped: list[str] = []
    cursor = 0
    for it in items:
        if not isinstance(it, dict) or not isinstance(it.get("text"), str) \
                or not isinstance(it.get("label"), str):
            dropped.append(f"malformed item {it!r}"[:120])
            continue
        mention = it["text"].strip()
        at = answer.find(json.dumps(mention, ensure_ascii=False)[1:-1], cursor) if mention else -1
        if at >= 0:
            cursor = at + len(mention)
        out.append((mention, it["label"], at))
    return out, repaired, dropped


def _lines_wanted(answer: str) -> tuple[list[tuple[str, str, int]] | None, bool, list[str]]:
    """(mention, label, position) items of a ``Type: mention`` answer; None: unparseable."""
    out: list[tuple[str, str, int]] = []
    dropped: list[str] = []
    saw_none = False
    pos = 0
    for line in answer.splitlines(keepends=True):
        body = line.strip()
        start = pos + (len(line) - len(line.lstrip()))
        pos += len(line)
        if not body:
            continue
        if body.lower().strip(".") == "none":
            saw_none = True
            continue
        label, sep, mention = body.partition(":")
        if not sep:
            dropped.append(f"line without 'Type: mention': {body!r}"[:120])
            continue
        lead = len(mention) - len(mention.lstrip())
        out.append((mention.strip(), label.strip(), start + len(label) + 1 + lead))
    if not out and not saw_none:
        return None, False, dropped or ["empty answer"]
    return out, False, dropped


def parse_answer(answer: str, sentence: str, labels: list[str],
                 tokens: list[str] | None = None,
                 logprobs: list[float] | None = None, fmt: str | None = None) -> Parsed:
    from allabel.predict.prompt import answer_format

    reader = _lines_wanted if answer_format(fmt) == "lines" else _json_wanted
    items, repaired, dropped = reader(answer)
    if items is None:
        return Parsed("unparseable", dropped=dropped)
    by_lower = {lab.lower(): lab for lab in labels}
    wanted: list[tuple[str, str, float | None]] = []
    for mention, raw_label, at in items:
        label = by_lower.get(raw_label.strip().lower())
        if label is None:
            dropped.append(f"label {raw_label!r} not in the schema")
            continue
        if not mention:
            dropped.append("empty mention")
            continue
        conf = token_confidence(answer, tokens, logprobs, at, at + len(mention)) if at >= 0 else None
        wanted.append((mention, label, conf))

    spans: dict[tuple[int, int, str], Entity] = {}
    for mention, label, conf in wanted:
        occ = _occurrences(sentence, mention)
        if not occ:
            dropped.append(f"mention {mention!r} not in the sentence")
            continue
        for a, b in occ:
            key = (a, b, label)
            if key not in spans:
                spans[key] = Entity(a, b, label, sentence[a:b], conf)
    ents = sorted(spans.values(), key=lambda e: (e.start, -e.end))
    flat = [e for e in ents if not any(o is not e and o.label == e.label and o.start <= e.start
                                       and e.end <= o.end and (o.end - o.start) > (e.end - e.start)
                                       for o in ents)]
    status = "partial" if (dropped or repaired) else "ok"
    return Parsed(status, flat, dropped)
