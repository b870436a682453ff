"""Read annotations back (Label Studio JSON export, JSONL, CoNLL) and store them for a run.

Everything is parsed and validated first; one bad item rejects the whole file with file, line
(or task) and reason, and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from allabel.core.errors import ConfigError, InputError
from allabel.formats.corpus import decode_lines, json_lines
from allabel.formats.spans import SpanError, check_spans, read_conll, spans_of_json, tokens_of
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("annotation")


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
    return "conll"


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
    anns = [a for a in t.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not anns:
        return None
    ann = anns[-1]
    spans = []
    for r in ann.get("result") or []:
        span = _span_of(r.get("value")) if isinstance(r, dict) and r.get("type") == "labels" else None
        if span is None:
            if isinstance(r, dict) and r.get("type") == "labels":
                raise InputError(path, None, f"task {n}: malformed result {r!r}"[:200])
            key = f"{r.get('from_name', '?')} ({r.get('type', '?')})" if isinstance(r, dict) else "?"
            ignored[key] = ignored.get(key, 0) + 1
            continue
        spans.append(span)
    return Item(n, sid, data.get("text"), spans, _who(ann.get("completed_by")))


def _min_record(t: dict, n: int, path: str, ignored: dict[str, int]) -> Item:
    """One record of Label Studio's JSON-MIN export: data fields and one key per control."""
    sid = t.get("sentence_id")
    if not isinstance(sid, int):
        raise InputError(path, None, f"task {n}: sentence_id missing (neither a Label Studio "
                         f"JSON task with data.sentence_id nor a JSON-MIN record with sentence_id)")
    spans = []
    for key, value in t.items():
        if key in _MIN_DATA:
            continue
        vals = value if isinstance(value, list) else [value]
        if not vals:
            continue
        found = [_span_of(v) for v in vals]
        if all(f is not None for f in found):
            spans.extend(found)
        elif any(isinstance(v, dict) and "labels" in v for v in vals):
            raise InputError(path, None, f"task {n}: malformed {key!r} value {value!r}"[:200])
        else:
            ignored[key] = ignored.get(key, 0) + 1
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
            items.append(_min_record(t, n, str(path), ignored))
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
        try:
            spans = spans_of_json(o.get("entities", []))
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


@dataclass
class ImportResult:
    sentences: int          # annotated sentences in the file
    written: int            # of them, new or changed (the rest were stored already)
    warnings: list[str]


def parse(path: Path, fmt: str | None, texts: dict[int, RunSentence],
          warnings: list[str]) -> tuple[str, list[Item]]:
    """Read ``path`` (format given or detected) into items; nothing is checked against the run yet."""
    lines = decode_lines(path)
    fmt = fmt or _detect(path, lines)
    reader = READERS.get(fmt)
    if reader is None:
        raise InputError(str(path), None, f"unknown format {fmt!r} ({', '.join(READERS)})")
    return fmt, reader.read(path, lines, texts, warnings)


def run_context(conn, run_id: int) -> tuple[dict[int, RunSentence], set[str]]:
    """The run's selected sentences (id -> stored sentence) and its dataset's labels."""
    kind = db.scalar(conn, Q.run_kind, {"run_id": run_id})
    if kind != "selection":
        raise ConfigError(f"run {run_id} is not a selection run")
    texts = {r["id"]: RunSentence(r["text"], r["tokens"], r["token_starts"])
             for r in db.rows(conn, Q.run_sentences, {"run_id": run_id})}
    labels = {r["name"] for r in db.rows(conn, Q.run_labels, {"run_id": run_id})}
    return texts, labels


def validate(items: list[Item], texts: dict[int, RunSentence], labels: set[str], run_id: int, where: str,
             by_line: bool) -> None:
    """Every item must be a sentence of the run, once, with valid spans (``spans.check_spans``:
    on its text, surface text as given, known labels, no duplicates)."""
    seen: set[int] = set()
    for it in items:
        line = it.where if by_line else None
        pre = "" if by_line else f"task {it.where}: "
        if it.sentence_id not in texts:
            raise InputError(where, line, f"{pre}sentence {it.sentence_id} is not selected in run {run_id}")
        if it.sentence_id in seen:
            raise InputError(where, line, f"{pre}sentence {it.sentence_id} appears twice")
        seen.add(it.sentence_id)
        text = texts[it.sentence_id].text
        if it.text is not None and it.text != text:
            raise InputError(where, line, f"{pre}text of sentence {it.sentence_id} differs from the stored text")
        try:
            check_spans(text, it.spans, labels)
        except SpanError as e:
            raise InputError(where, line, f"{pre}{e}") from None


def store(conn, run_id: int, items: list[Item], texts: dict[int, RunSentence], annotator: str | None) -> int:
    """Write the items in one transaction: each sentence's annotation replaces the previous one;
    a sentence whose annotator and spans are already stored is left alone (re-importing the same
    file, or pulling twice, writes nothing). The annotator is the file's e-mail when it names one,
    else ``annotator``, else the file's user id, else "unknown". Returns sentences written."""
    current = {r["sentence_id"]: (r["annotator"], {(int(a), int(b), lab) for a, b, lab in r["spans"]})
               for r in db.rows(conn, Q.current_annotations, {"run_id": run_id})}
    written = 0
    with conn.transaction():
        for it in items:
            named = it.annotator if it.annotator and not it.annotator.startswith("labelstudio-user:") else None
            who = named or annotator or it.annotator or "unknown"
            if current.get(it.sentence_id) == (who, {(a, b, lab) for a, b, lab, _ in it.spans}):
                continue
            written += 1
            conn.execute(Q.clear_sentence, {"run_id": run_id, "sentence_id": it.sentence_id})
            conn.execute(Q.upsert_annotation, {"run_id": run_id, "sentence_id": it.sentence_id,
                                               "annotator": who})
            text = texts[it.sentence_id].text
            with conn.cursor() as cur:
                cur.executemany(Q.insert_entity, [
                    {"sentence_id": it.sentence_id, "start": a, "end": b, "label": lab,
                     "text": text[a:b], "run_id": run_id, "annotator": who}
                    for a, b, lab, _ in it.spans])
    conn.commit()
    return written


def import_file(path: str | Path, run_id: int, fmt: str | None = None,
                annotator: str | None = None) -> ImportResult:
    """Validate and store the annotations of ``path`` for ``run_id``; nothing is written unless
    the whole file is valid."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), None, "no such file")
    warnings: list[str] = []
    with db.connection() as conn:
        texts, labels = run_context(conn, run_id)
        fmt, items = parse(path, fmt, texts, warnings)
        validate(items, texts, labels, run_id, str(path), by_line=READERS[fmt].by_line)
        written = store(conn, run_id, items, texts, annotator)
    return ImportResult(len(items), written, warnings)
