"""Writes parsed files to Postgres in bulk (COPY), all files of one ingest in one transaction;
sentences are sent chunk by chunk as the parser (``allabel.ingest.stream``) produces them.

BM25 statistics and postings are not maintained per COPY (the sentences trigger is switched off
for the transaction by ``begin_bulk``) but in one set-based step per command, ``index_bm25``,
over the sentences the command wrote.

The per-row foreign-key checks and statement triggers of the two COPYs are, when the role may
switch them off (``begin_bulk``), replaced by one set-based check per command,
``check_written`` (sql/018): they cost the server more than writing the rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import psycopg

from allabel.formats.corpus import ParsedSentence
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("ingest")


def ensure_dataset(conn: psycopg.Connection, name: str) -> int:
    conn.execute(Q.insert_dataset, {"name": name})
    return db.scalar(conn, Q.dataset_id, {"name": name})


def upsert_labels(conn: psycopg.Connection, dataset_id: int, labels: dict[str, str | None]) -> None:
    if not labels:
        return
    with conn.cursor() as cur:
        cur.executemany(
            Q.upsert_label,
            [{"dataset_id": dataset_id, "name": k, "description": v} for k, v in labels.items()],
        )


def begin_bulk(conn: psycopg.Connection) -> bool:
    """Transaction-local settings of an ingest: BM25 maintenance deferred to ``index_bm25``.
    Returns whether the COPYs may run without their per-row checks (``row_checks_off``), which
    ``check_written`` then makes once for the command."""
    conn.execute(Q.bulk_settings)
    return bool(db.scalar(conn, Q.row_checks_may_be_set_based))


def lock_dataset_row(conn: psycopg.Connection, dataset_id: int) -> None:
    """FOR KEY SHARE on the dataset row, as the sentences' foreign-key check would take it: a
    concurrent delete of the dataset waits for the ingest."""
    conn.execute(Q.lock_dataset_row, {"id": dataset_id})


@contextlib.contextmanager
def row_checks_off(conn: psycopg.Connection, off: bool) -> Iterator[None]:
    """Within: ``session_replication_role = replica`` for this transaction when ``off``, so that
    a COPY fires neither its per-row foreign-key checks nor its statement triggers (sql/018
    lists them); ``check_written`` checks the same things for the whole command."""
    if not off:
        yield
        return
    conn.execute(Q.row_checks_off)
    yield
    conn.execute(Q.row_checks_on)


def check_written(conn: psycopg.Connection, dataset_id: int, written: list[tuple[int, int, int]],
                  sentences: int, entities: int) -> None:
    """The checks the COPYs skipped, once for the command (``ingest_check_written``, sql/018):
    the rows written name the dataset, the command's files and its sentences; entity spans
    equal the sentence text, labels are the dataset's. Raises (the transaction rolls back)."""
    if written:
        conn.execute(Q.ingest_check_written, {"dataset_id": dataset_id,
                                              "files": [w[0] for w in written],
                                              "lo": min(w[1] for w in written),
                                              "hi": max(w[2] for w in written),
                                              "sentences": sentences, "entities": entities})


def index_bm25(conn: psycopg.Connection, dataset_id: int, written: list[tuple[int, int, int]]) -> None:
    """The deferred BM25 step: statistics and postings of every sentence the command wrote
    (``written``: source file id and the range of its sentence ids, per file)."""
    if written:
        conn.execute(Q.bm25_index_sentences, {"dataset_id": dataset_id,
                                              "files": [w[0] for w in written],
                                              "lo": min(w[1] for w in written),
                                              "hi": max(w[2] for w in written)})


def add_to_worklist(conn: psycopg.Connection, dataset_id: int,
                    written: list[tuple[int, int, int]]) -> None:
    """The deferred work-list step: the command's sentences are new for ``predict --new``
    (``predict_worklist``, sql/016), in the transaction that writes them."""
    if written:
        conn.execute(Q.predict_worklist_add_sentences, {"dataset_id": dataset_id,
                                                        "files": [w[0] for w in written],
                                                        "lo": min(w[1] for w in written),
                                                        "hi": max(w[2] for w in written)})


def file_already_ingested(conn: psycopg.Connection, dataset_id: int, split: str, sha: str) -> bool:
    row = conn.execute(Q.source_file_exists,
                       {"dataset_id": dataset_id, "split": split, "sha256": sha}).fetchone()
    return row is not None


@dataclass
class SentencesWritten:
    """A file's sentences are in the table (its entities not yet)."""

    file_id: int
    first: int                      # position of the first sentence in the split
    sentences: list[ParsedSentence]


def copy_sentences(
    conn: psycopg.Connection, dataset_id: int, split: str, path: str, sha: str, fmt: str,
    chunks: Iterable[list[ParsedSentence]], checks_off: bool = False,
) -> SentencesWritten:
    """The file's source_files row and one COPY of its sentences, written chunk by chunk as the
    parser hands them over (the server processes chunk k while chunk k+1 is parsed). The row's
    counts are set by ``copy_entities`` once the whole file is known. ``checks_off``: run the
    COPY under ``row_checks_off``."""
    file_id = db.scalar(conn, Q.insert_source_file, {
        "dataset_id": dataset_id, "split": split, "path": path, "sha256": sha, "format": fmt,
        "n_sentences": 0, "n_entities": 0,
    })
    first = db.scalar(conn, Q.next_position, {"dataset_id": dataset_id, "split": split})
    sentences: list[ParsedSentence] = []
    with conn.cursor() as cur, row_checks_off(conn, checks_off):
        # COPY text format written by hand: psycopg's per-element array dumpers were the largest
        # client cost of an ingest (tokens and offsets of every sentence)
        with cur.copy(Q.copy_sentences) as copy:
            prefix = f"{dataset_id}\t{_field(split)}\t"
            for chunk in chunks:
                c = first + len(sentences)
                copy.write("".join(
                    f"{prefix}{_field(s.doc_id)}\t{c + i}\t{file_id}\t{_field(s.text)}\t"
                    f"{_text_array(s.tokens)}\t{_int_array(s.token_starts)}\n"
                    for i, s in enumerate(chunk)))
                sentences.extend(chunk)
    return SentencesWritten(file_id, first, sentences)


def copy_entities(conn: psycopg.Connection, dataset_id: int, split: str, w: SentencesWritten,
                  checks_off: bool = False) -> tuple[int, int, tuple[int, int, int]]:
    """COPY the gold entities of a file whose sentences are written (their labels must be in
    ``labels`` already) and set the file's counts. Returns (sentences, entities) written and
    (source file id, first sentence id, last sentence id)."""
    sentences = w.sentences
    n_ent = sum(len(s.entities) for s in sentences)
    where = {"dataset_id": dataset_id, "split": split, "first": w.first,
             "last": w.first + len(sentences) - 1}
    conn.execute(Q.set_source_file_counts, {"id": w.file_id, "n_sentences": len(sentences),
                                            "n_entities": n_ent})
    with conn.cursor() as cur:
        id_range = cur.execute(Q.sentence_id_range, where).fetchone()
        if n_ent:
            ids = [r["id"] for r in db.rows(conn, Q.sentence_ids_by_position, where)]
            with row_checks_off(conn, checks_off), cur.copy(Q.copy_gold_entities) as copy:
                for c in range(0, len(sentences), _CHUNK):
                    copy.write("".join(
                        f"{sid}\t{e.start}\t{e.end}\t{_field(e.label)}\t{_field(e.text)}\tgold\n"
                        for sid, s in zip(ids[c:c + _CHUNK], sentences[c:c + _CHUNK], strict=True)
                        for e in s.entities))
    return len(sentences), n_ent, (w.file_id, id_range[0], id_range[1])


_CHUNK = 20_000  # sentences per COPY write (bounds the client's memory on big files)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _field(v: str | None) -> str:
    """One value in COPY's text format (\\N is NULL; backslash, tab and line breaks escaped)."""
    if v is None:
        return "\\N"
    if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
        return v.translate(_COPY_ESCAPES)
    return v


def _text_array(items: list[str] | None) -> str:
    """A text[] literal, every element quoted (so commas, braces and spaces need nothing more)."""
    if items is None:
        return "\\N"
    blob = "".join(items)
    if '"' in blob or "\\" in blob:
        items = [t.replace("\\", "\\\\").replace('"', '\\"') for t in items]
    return _field('{"' + '","'.join(items) + '"}') if items else "{}"


def _int_array(items: list[int] | None) -> str:
    if items is None:
        return "\\N"
    return "{" + ",".join(map(str, items)) + "}"
