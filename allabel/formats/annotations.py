"""Annotation files read back (Label Studio JSON / JSON-MIN export, JSONL, CoNLL), into items of
(sentence id, spans, annotator) checked against nothing yet: the import readers of the one format
registry (``allabel.formats.registry``). ``allabel.annotate.importer`` validates the items against
the run and stores them. A malformed file is refused whole, naming the file and the line or task."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from allabel.core.errors import InputError
from allabel.formats.corpus import decode_lines, json_lines
from allabel.formats.spans import SpanError, read_conll, spans_of_json, tokens_of
from allabel.formats.writers import FROM_NAME


@dataclass(frozen=True)
class RunSentence:
    """A sentence selected in the run, as stored (what an imported item is checked against)."""

    text: str
    tokens: list[str] | None
    token_starts: list[int] | None


@dataclass
class Item:
    where: int | None
    sentence_id: int
    text: str | None
    spans: list[tuple[int, int, str, str | None]]
    annotator: str | None = None


def _detect(path: Path, lines: list[str]) -> str:
    head = next((ln.strip() for ln in lines if ln.strip()), "")
    if head.startswith("["):
        return "labelstudio"
    if head.startswith("{"):
        return "jsonl"
    try:  # a JSON string, number, true/false/null is no annotation file (and no CoNLL either)
        value = json.loads("\n".join(lines))
    except json.JSONDecodeError:
        return "conll"
    raise InputError(str(path), 1, f"the file holds a JSON {type(value).__name__} "
                     f"({json.dumps(value)[:40]}), not annotations: expected a Label Studio JSON "
                     f"list of tasks, JSONL or CoNLL")


# Keys of a Label Studio JSON-MIN record that are not controls: our task data and LS metadata.
_MIN_DATA = {"text", "sentence_id", "run_id", "stage", "rank", "dataset", "split", "doc_id", "origin",
             "model", "id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time",
             "agreement", "annotations", "predictions", "drafts", "meta"}


def _who(value: object) -> str | None:
    """The annotator Label Studio names: an e-mail when it gives one. A bare user id ("1") says
    nothing outside that Label Studio, so it never overrides --annotator (see import_file)."""
    if isinstance(value, dict):
        value = value.get("email") or value.get("username") or value.get("id")
    if value is None or isinstance(value, bool):
        return None
    value = str(value).strip()
    if not value:
        return None
    return value if not value.isdigit() else f"labelstudio-user:{value}"


def _span_of(v: object) -> tuple[int, int, str, str | None] | None:
    if not isinstance(v, dict):
        return None
    labels = v.get("labels")
    if not (isinstance(v.get("start"), int) and isinstance(v.get("end"), int)
            and isinstance(labels, list) and labels and isinstance(labels[0], str)):
        return None
    return v["start"], v["end"], labels[0], v.get("text")


def _labelstudio(path: Path, lines: list[str], texts: dict[int, RunSentence], warnings: list[str]) -> list[Item]:
    """A Label Studio JSON export (tasks with data and annotations) or JSON-MIN export (one flat
    record per annotation: data fields, one key per control, annotator). Results of other
    controls than span labels (Choices, TextArea, relations …) are skipped with one warning."""
    try:
        tasks = json.loads("\n".join(lines))
    except json.JSONDecodeError as e:
        raise InputError(str(path), e.lineno, f"not valid JSON: {e.msg}") from None
    if not isinstance(tasks, list):
        raise InputError(str(path), 1, "a Label Studio export is a JSON list of tasks")
    return parse_tasks(tasks, str(path), warnings)


def _export_task(t: dict, n: int, path: str, ignored: dict[str, int]) -> Item | None:
    """One task of Label Studio's JSON export: its last annotation that was not cancelled
    (None when the task is not annotated yet)."""
    data = t["data"] if isinstance(t["data"], dict) else {}
    sid = data.get("sentence_id")
    if not isinstance(sid, int):
        raise InputError(path, None, f"task {n}: data.sentence_id missing (was it exported by allabel?)")
    anns = t.get("annotations", [])
    if not isinstance(anns, list):
        raise InputError(path, None, f"task {n}: \"annotations\" must be a list, not "
                         f"{type(anns).__name__}")
    if not all(isinstance(a, dict) for a in anns):
        raise InputError(path, None, f"task {n}: every annotation must be a JSON object")
    anns = [a for a in anns if not a.get("was_cancelled")]
    if not anns:
        return None
    ann = anns[-1]
    result = ann.get("result")
    if not isinstance(result, list):  # an empty annotation is said explicitly: "result": []
        raise InputError(path, None, f"task {n}: annotation without a \"result\" list "
                         f"({'missing' if 'result' not in ann else json.dumps(result)[:40]}); "
                         f"an annotation with no entities has \"result\": []")
    spans = []
    for r in result:
        span = _span_of(r.get("value")) if isinstance(r, dict) and r.get("type") == "labels" else None
        if span is None:
            if isinstance(r, dict) and r.get("type") == "labels":
                raise InputError(path, None, f"task {n}: malformed result {r!r}"[:200])
            key = f"{r.get('from_name', '?')} ({r.get('type', '?')})" if isinstance(r, dict) else "?"
            ignored[key] = ignored.get(key, 0) + 1
            continue
        spans.append(span)
    return Item(n, sid, data.get("text"), spans, _who(ann.get("completed_by")))


def _min_record(t: dict, n: int, path: str, ignored: dict[str, int]) -> Item | None:
    """One record of Label Studio's JSON-MIN export: data fields and one key per control."""
    sid = t.get("sentence_id")
    if not isinstance(sid, int):
        raise InputError(path, None, f"task {n}: sentence_id missing (neither a Label Studio "
                         f"JSON task with data.sentence_id nor a JSON-MIN record with sentence_id)")
    spans = []
    if FROM_NAME in t and not (isinstance(t[FROM_NAME], list)
                               and all(_span_of(v) is not None for v in t[FROM_NAME])):
        raise InputError(path, None, f"task {n}: {FROM_NAME!r} must be a list of spans "
                         f"({{\"start\", \"end\", \"labels\"}}; [] for none), got "
                         f"{json.dumps(t[FROM_NAME])[:60]}")
    controls = False  # does the record carry a span-labels control (maybe empty)?
    for key, value in t.items():
        if key in _MIN_DATA:
            continue
        if key == FROM_NAME:
            controls = True
        vals = value if isinstance(value, list) else [value]
        if not vals:
            continue
        found = [_span_of(v) for v in vals]
        if all(f is not None for f in found):
            spans.extend(found)
            controls = True
        elif any(isinstance(v, dict) and "labels" in v for v in vals):
            raise InputError(path, None, f"task {n}: malformed {key!r} value {value!r}"[:200])
        else:
            ignored[key] = ignored.get(key, 0) + 1
    if not controls and "annotation_id" not in t:
        return None  # neither spans nor an annotation: a task not annotated (never an erasure)
    # Label Studio writes an annotation with no spans as a record without the control's key but
    # with its annotation_id: that, or "label": [], is an explicit empty annotation
    return Item(n, sid, t.get("text"), spans, _who(t.get("annotator")))


def parse_tasks(tasks: list, path: str, warnings: list[str]) -> list[Item]:
    """Label Studio tasks (JSON export or API) or JSON-MIN records -> items (see _labelstudio)."""
    items: list[Item] = []
    ignored: dict[str, int] = {}  # control -> results skipped (not span labels)
    min_records: set[int] = set()
    for n, t in enumerate(tasks, 1):
        if not isinstance(t, dict):
            raise InputError(str(path), None, f"task {n}: not a JSON object")
        if "data" in t:  # the JSON export
            item = _export_task(t, n, str(path), ignored)
            if item is not None:
                items.append(item)
        else:
            min_records.add(n)
            item = _min_record(t, n, str(path), ignored)
            if item is not None:
                items.append(item)
    if ignored:
        what = ", ".join(f"{k} x{v}" for k, v in sorted(ignored.items()))
        warnings.append(f"{path}: ignored results of controls other than span labels: {what}")
    # JSON-MIN has one record per annotation: the last one of a sentence wins, as in the JSON export
    last = {it.sentence_id: it for it in items if it.where in min_records}
    return [it for it in items if it.where not in min_records or last[it.sentence_id] is it]


def _jsonl(path: Path, lines: list[str], texts: dict[int, RunSentence], warnings: list[str]) -> list[Item]:
    """One object a line: sentence_id, entities (as ingest reads them), optional text, annotator."""
    items = []
    for ln, o in json_lines(path, lines):
        if not isinstance(o.get("sentence_id"), int):
            raise InputError(str(path), ln, '"sentence_id" missing')
        if o.get("entities") is None:  # no entities is said explicitly: [] (a missing key erases nothing)
            raise InputError(str(path), ln, '"entities" missing: give a list ([] for none)')
        try:
            spans = spans_of_json(o["entities"])
        except SpanError as e:
            raise InputError(str(path), ln, str(e)) from None
        items.append(Item(ln, o["sentence_id"], o.get("text"), spans, o.get("annotator")))
    return items


def _conll(path: Path, lines: list[str], texts: dict[int, RunSentence], warnings: list[str]) -> list[Item]:
    """CoNLL as ``allabel export --format conll`` writes it (read by ``allabel.formats.spans.read_conll``,
    the same tolerance as ingest): each sentence names its ``# sentence_id = N``, and its tokens
    must be the stored tokens of that sentence."""
    items = []
    for sent in read_conll(str(path), lines):
        line, value = sent.comments.get("sentence_id", (sent.line, ""))
        if not value.isdigit():
            raise InputError(str(path), sent.line, "sentence without a '# sentence_id = N' line")
        sid = int(value)
        if sid not in texts:
            raise InputError(str(path), line, f"sentence {sid} is not selected in this run")
        rs = texts[sid]
        toks = tokens_of(rs.text, rs.tokens, rs.token_starts)
        if [t for t, _ in toks] != sent.tokens:
            raise InputError(str(path), line, f"tokens of sentence {sid} differ from the stored text")
        items.append(Item(line, sid, rs.text, [(toks[a][1], toks[b][1] + len(toks[b][0]), lab, None)
                                               for a, b, lab in sent.token_spans(str(path))]))
    return items


@dataclass(frozen=True)
class ImportFormat:
    """How to read one import format: ``read(path, lines, run sentences, warnings) -> items``;
    ``by_line``: items are numbered by file line (else by task, a JSON document's position)."""

    read: Callable[[Path, list[str], dict[int, RunSentence], list[str]], list[Item]]
    by_line: bool


READERS: dict[str, ImportFormat] = {
    "labelstudio": ImportFormat(_labelstudio, by_line=False),
    "jsonl": ImportFormat(_jsonl, by_line=True),
    "conll": ImportFormat(_conll, by_line=True),
}



def parse(path: Path, fmt: str | None, texts: dict[int, RunSentence],
          warnings: list[str]) -> tuple[str, list[Item]]:
    """Read ``path`` (format given or detected) into items; nothing is checked against the run yet."""
    lines = decode_lines(path)
    fmt = fmt or _detect(path, lines)
    reader = READERS.get(fmt)
    if reader is None:
        raise InputError(str(path), None, f"unknown format {fmt!r} ({', '.join(READERS)})")
    return fmt, reader.read(path, lines, texts, warnings)
