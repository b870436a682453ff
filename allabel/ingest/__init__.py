"""Ingest: read CoNLL/IOB, JSONL or plain-text files into a dataset split.

All files of one call are written in one transaction, streamed from a parser thread as they are
parsed (``allabel.ingest.stream``: the client parses while the server writes): bad input, found
wherever in whichever file, raises ``InputError`` (file, line, reason) and the transaction rolls
back, leaving the database exactly as it was. A file whose content (sha256) is already in the
split is skipped, so re-ingesting is a no-op.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from allabel.core.errors import InputError
from allabel.core.limits import MAX_SPLIT, check_names
from allabel.formats.corpus import EXTENSIONS, ParsedSentence
from allabel.ingest.labels import read_labels
from allabel.ingest.stream import Chunk, Event, FileEnd, FileStart, ParsedStream
from allabel.ingest.writer import (
    Q,
    add_to_worklist,
    begin_bulk,
    check_written,
    copy_entities,
    copy_sentences,
    ensure_dataset,
    file_already_ingested,
    index_bm25,
    lock_dataset_row,
    upsert_labels,
)
from allabel.store import db


@dataclass
class FileResult:
    path: str
    split: str
    fmt: str
    sentences: int
    entities: int
    skipped: bool


@dataclass
class IngestResult:
    dataset: str
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def sentences(self) -> int:
        return sum(f.sentences for f in self.files if not f.skipped)

    @property
    def entities(self) -> int:
        return sum(f.entities for f in self.files if not f.skipped)

    @property
    def skipped(self) -> list[FileResult]:
        return [f for f in self.files if f.skipped]


def _collect(path: Path, split: str | None) -> list[tuple[Path, str]]:
    if not path.exists():
        raise InputError(str(path), None, "no such file or directory")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
        if not files:
            raise InputError(str(path), None, "directory holds no data files "
                             f"({', '.join(sorted(EXTENSIONS))})")
        return [(p, split or p.stem) for p in files]
    if split is None:
        raise InputError(str(path), None, "--split is required for a single file")
    return [(path, split)]


def _check_targets(targets: list[tuple[Path, str]],
                   labels_file: str | Path | None) -> dict[str, str | None] | None:
    """What can be checked before any file is parsed; returns the described labels."""
    for p, sp in targets:
        if len(sp) > MAX_SPLIT:
            raise InputError(str(p), None, f"split name {sp[:40]!r}... (the file name) has {len(sp)} "
                             f"characters, at most {MAX_SPLIT} allowed")
    return read_labels(Path(labels_file)) if labels_file else None


def _chunks(events: Iterator[Event], end: list[FileEnd]) -> Iterator[list[ParsedSentence]]:
    """The sentence chunks of the current file; its ``FileEnd`` is appended to ``end``."""
    for ev in events:
        if isinstance(ev, FileEnd):
            end.append(ev)
            return
        assert isinstance(ev, Chunk)
        yield ev.sentences


def _write_files(conn: psycopg.Connection, ds: int, stream: ParsedStream, result: IngestResult,
                 written: set[str], checks_off: bool) -> tuple[list[tuple[int, int, int]], tuple[int, int]]:
    """Each parsed file's rows, in the command's transaction (files already in the split are
    skipped). Returns (source file id, first and last sentence id) per file written and the
    sentences and entities this transaction wrote; ``written`` collects the files' paths."""
    written_ids: list[tuple[int, int, int]] = []
    n_sentences = n_entities = 0
    events = iter(stream)
    for start in events:
        assert isinstance(start, FileStart)
        p, sp, f, sha = start.path, start.split, start.fmt, start.sha256
        end: list[FileEnd] = []
        if file_already_ingested(conn, ds, sp, sha):
            for _ in _chunks(events, end):
                pass
            upsert_labels(conn, ds, {lab: None for lab in sorted(end[0].labels)})
            result.files.append(FileResult(str(p), sp, f, end[0].sentences,
                                           end[0].entities, str(p) not in written))
            continue
        written.add(str(p))
        w = copy_sentences(conn, ds, sp, str(p.resolve()), sha, f, _chunks(events, end), checks_off)
        # labels first: the entities' check wants them in the dataset
        upsert_labels(conn, ds, {lab: None for lab in sorted(end[0].labels)})
        n_s, n_e, ids = copy_entities(conn, ds, sp, w, checks_off)
        written_ids.append(ids)
        n_sentences += n_s
        n_entities += n_e
        result.files.append(FileResult(str(p), sp, f, n_s, n_e, False))
    return written_ids, (n_sentences, n_entities)


def ingest_path(
    path: str | Path,
    dataset: str,
    split: str | None = None,
    fmt: str | None = None,
    labels_file: str | Path | None = None,
    url: str | None = None,
) -> IngestResult:
    """Ingest a file (or every data file of a directory, split = file stem) into ``dataset``."""
    t0 = time.perf_counter()
    if not dataset or not dataset.strip():
        raise InputError(str(path), None, "dataset name must not be empty")
    check_names(dataset=dataset, split=split)
    targets = _collect(Path(path), split)
    described = _check_targets(targets, labels_file)
    result = IngestResult(dataset)
    written: set[str] = set()  # files written by an attempt whose commit may have gone through
    stream = ParsedStream(targets, fmt, described, labels_file)

    def write() -> None:
        """All files in one transaction, each streamed from the parser as it is parsed; run
        again from scratch when the server went away (the transaction rolled back, so nothing
        is half written; the parsed files are replayed)."""
        result.files.clear()
        with db.connection(url) as conn:
            with conn.transaction():
                checks_off = begin_bulk(conn)
                conn.execute(Q.lock_dataset, {"name": dataset})
                ds = ensure_dataset(conn, dataset)
                lock_dataset_row(conn, ds)
                if described:
                    upsert_labels(conn, ds, described)
                written_ids, copied = _write_files(conn, ds, stream, result, written, checks_off)
                if checks_off:
                    check_written(conn, ds, written_ids, *copied)
                index_bm25(conn, ds, written_ids)
                add_to_worklist(conn, ds, written_ids)

    try:
        db.retrying(write)
    finally:
        stream.close()
    result.seconds = time.perf_counter() - t0
    return result


__all__ = ["IngestResult", "FileResult", "ingest_path"]
