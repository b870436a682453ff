"""Read annotations back (Label Studio JSON export, JSONL, CoNLL) and store them for a run.

Everything is parsed and validated first; one bad item rejects the whole file with file, line
(or task) and reason, and nothing is written."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from allabel import db
from allabel.annotation.exporter import tokens_of
from allabel.errors import ConfigError, InputError
from allabel.ingest.formats import decode_lines, iob_token_spans
from allabel.sqlfiles import queries

Q = queries("annotation")
_SID = re.compile(r"^#\s*sentence_id\s*=\s*(\d+)\s*$")


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


def _labelstudio(path: Path, lines: list[str]) -> list[Item]:
    try:
        tasks = json.loads("\n".join(lines))
    except json.JSONDecodeError as e:
        raise InputError(str(path), e.lineno, f"not valid JSON: {e.msg}") from None
    if not isinstance(tasks, list):
        raise InputError(str(path), 1, "a Label Studio export is a JSON list of tasks")
    items = []
    for n, t in enumerate(tasks, 1):
        data = t.get("data", {}) if isinstance(t, dict) else {}
        sid = data.get("sentence_id")
        if not isinstance(sid, int):
            raise InputError(str(path), None, f"task {n}: data.sentence_id missing")
        anns = [a for a in t.get("annotations", []) if not a.get("was_cancelled")]
        if not anns:
            continue  # not annotated yet
        ann = anns[-1]
        spans = []
        for r in ann.get("result", []):
            v = r.get("value", {})
            labels = v.get("labels") or []
            if not (isinstance(v.get("start"), int) and isinstance(v.get("end"), int) and labels):
                raise InputError(str(path), None, f"task {n}: malformed result {r!r}"[:200])
            spans.append((v["start"], v["end"], labels[0], v.get("text")))
        who = ann.get("completed_by")
        if isinstance(who, dict):
            who = who.get("email") or who.get("id")
        items.append(Item(n, sid, data.get("text"), spans, None if who is None else str(who)))
    return items


def _jsonl(path: Path, lines: list[str]) -> list[Item]:
    items = []
    for ln, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            o = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InputError(str(path), ln, f"not valid JSON: {e.msg}") from None
        if not isinstance(o, dict) or not isinstance(o.get("sentence_id"), int):
            raise InputError(str(path), ln, '"sentence_id" missing')
        spans = []
        for e in o.get("entities", []):
            if not (isinstance(e, dict) and isinstance(e.get("start"), int)
                    and isinstance(e.get("end"), int) and isinstance(e.get("label"), str)):
                raise InputError(str(path), ln, f"malformed entity {e!r}"[:200])
            spans.append((e["start"], e["end"], e["label"], e.get("text")))
        items.append(Item(ln, o["sentence_id"], o.get("text"), spans, o.get("annotator")))
    return items


def _conll(path: Path, lines: list[str], texts: dict[int, tuple]) -> list[Item]:
    items, sid, start_line, rows = [], None, 0, []

    def flush() -> None:
        nonlocal rows, sid
        if sid is None and not rows:
            return
        if sid is None:
            raise InputError(str(path), start_line, "sentence without a '# sentence_id = N' line")
        if sid not in texts:
            raise InputError(str(path), start_line, f"sentence {sid} is not selected in this run")
        text, toks_db, starts = texts[sid]
        toks = tokens_of(text, toks_db, starts)
        if [t for t, _ in toks] != [t for _, t, _ in rows]:
            raise InputError(str(path), start_line, f"tokens of sentence {sid} differ from the stored text")
        spans = iob_token_spans(path, [(ln, tag) for ln, _tok, tag in rows])
        items.append(Item(start_line, sid, text, [
            (toks[a][1], toks[b][1] + len(toks[b][0]), lab, None) for a, b, lab in spans]))
        sid, rows = None, []

    for ln, raw in enumerate(lines, 1):
        m = _SID.match(raw.strip())
        if m:
            flush()
            sid, start_line = int(m.group(1)), ln
            continue
        if raw.strip().startswith("#"):
            continue
        if not raw.strip():
            flush()
            continue
        parts = raw.split("\t") if "\t" in raw else raw.split()
        if len(parts) < 2:
            raise InputError(str(path), ln, "malformed line: expected 'token<TAB>tag'")
        rows.append((ln, parts[0], parts[-1].strip()))
    flush()
    return items


def import_file(path: str | Path, run_id: int, fmt: str | None = None,
                annotator: str | None = None) -> int:
    """Validate and store the annotations of ``path`` for ``run_id``. Returns sentences stored."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), None, "no such file")
    lines = decode_lines(path)
    fmt = fmt or _detect(path, lines)
    with db.connection() as conn:
        kind = conn.execute(Q.run_kind, {"run_id": run_id}).fetchone()
        if kind is None or kind[0] != "selection":
            raise ConfigError(f"run {run_id} is not a selection run")
        texts = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(Q.run_sentences, {"run_id": run_id})}
        labels = {r[0] for r in conn.execute(Q.run_labels, {"run_id": run_id})}
        if fmt == "labelstudio":
            items = _labelstudio(path, lines)
        elif fmt == "jsonl":
            items = _jsonl(path, lines)
        elif fmt == "conll":
            items = _conll(path, lines, texts)
        else:
            raise InputError(str(path), None, f"unknown format {fmt!r} (labelstudio, jsonl, conll)")
        seen: set[int] = set()
        for it in items:
            line = it.where if fmt != "labelstudio" else None
            pre = "" if fmt != "labelstudio" else f"task {it.where}: "
            if it.sentence_id not in texts:
                raise InputError(str(path), line,
                                 f"{pre}sentence {it.sentence_id} is not selected in run {run_id}")
            if it.sentence_id in seen:
                raise InputError(str(path), line, f"{pre}sentence {it.sentence_id} appears twice")
            seen.add(it.sentence_id)
            text = texts[it.sentence_id][0]
            if it.text is not None and it.text != text:
                raise InputError(str(path), line,
                                 f"{pre}text of sentence {it.sentence_id} differs from the stored text")
            keys = set()
            for a, b, lab, surface in it.spans:
                if not (0 <= a < b <= len(text)):
                    raise InputError(str(path), line, f"{pre}span [{a}, {b}) outside the text")
                if surface is not None and text[a:b] != surface:
                    raise InputError(str(path), line, f"{pre}span [{a}, {b}) is {text[a:b]!r}, not {surface!r}")
                if lab not in labels:
                    known = ", ".join(sorted(labels))
                    raise InputError(str(path), line, f"{pre}unknown label {lab!r} (known: {known})")
                if (a, b, lab) in keys:
                    raise InputError(str(path), line, f"{pre}duplicate span [{a}, {b}) {lab}")
                keys.add((a, b, lab))
        with conn.transaction():
            for it in items:
                who = it.annotator or annotator or "unknown"
                conn.execute(Q.clear_sentence, {"run_id": run_id, "sentence_id": it.sentence_id})
                conn.execute(Q.upsert_annotation, {"run_id": run_id, "sentence_id": it.sentence_id,
                                                   "annotator": who})
                text = texts[it.sentence_id][0]
                with conn.cursor() as cur:
                    cur.executemany(Q.insert_entity, [
                        {"sentence_id": it.sentence_id, "start": a, "end": b, "label": lab,
                         "text": text[a:b], "run_id": run_id, "annotator": who}
                        for a, b, lab, _ in it.spans])
        conn.commit()
    return len(items)
