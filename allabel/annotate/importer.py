"""Store annotations read back (Label Studio JSON export, JSONL, CoNLL: read by
``allabel.formats.annotations``) for a run.

Everything is parsed and validated first; one bad item rejects the whole file with file, line
(or task) and reason, and nothing is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from allabel.core.errors import ConfigError, InputError
from allabel.formats.annotations import Item, RunSentence, parse
from allabel.formats.registry import import_reader
from allabel.formats.spans import SpanError, check_spans
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("annotation")


@dataclass
class ImportResult:
    sentences: int          # annotated sentences in the file
    written: int            # of them, new or changed (the rest were stored already)
    warnings: list[str]


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


def store(conn, run_id: int, items: list[Item], texts: dict[int, RunSentence], annotator: str | None,
          same_spans_kept: bool = False) -> int:
    """Write the items in one transaction: each sentence's annotation replaces the previous one;
    a sentence whose annotator and spans are already stored is left alone (re-importing the same
    file, or pulling twice, writes nothing); with ``same_spans_kept`` (``labelstudio pull``) the
    same spans under another annotator are left alone too: push copies an imported annotation
    into Label Studio, where it carries the token's user, and pulling it back must not rename
    who made it. The annotator is the file's e-mail when it names one,
    else ``annotator``, else the file's user id, else "unknown". Returns sentences written."""
    current = {r["sentence_id"]: (r["annotator"], {(int(a), int(b), lab) for a, b, lab in r["spans"]})
               for r in db.rows(conn, Q.current_annotations, {"run_id": run_id})}
    written = 0
    with conn.transaction():
        for it in items:
            named = it.annotator if it.annotator and not it.annotator.startswith("labelstudio-user:") else None
            who = named or annotator or it.annotator or "unknown"
            spans = {(a, b, lab) for a, b, lab, _ in it.spans}
            stored = current.get(it.sentence_id)
            if stored == (who, spans) or (same_spans_kept and stored is not None and stored[1] == spans):
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
        validate(items, texts, labels, run_id, str(path), by_line=import_reader(fmt).by_line)
        written = store(conn, run_id, items, texts, annotator)
    return ImportResult(len(items), written, warnings)
