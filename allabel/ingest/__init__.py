"""Ingest: read CoNLL/IOB, JSONL or plain-text files into a dataset split.

Everything is parsed and validated before anything is written, and all files of one call are
written in one transaction: bad input raises ``InputError`` (file, line, reason) and leaves the
database exactly as it was. A file whose content (sha256) is already in the split is skipped, so
re-ingesting is a no-op.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from allabel import db
from allabel.errors import InputError
from allabel.ingest.formats import EXTENSIONS, ParsedSentence, detect_format, parse_file
from allabel.ingest.labels import read_labels
from allabel.ingest.writer import (
    Q,
    add_to_worklist,
    begin_bulk,
    ensure_dataset,
    file_already_ingested,
    index_bm25,
    upsert_labels,
    write_file,
)
from allabel.limits import MAX_LABEL, MAX_SPLIT, check_names


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


Parsed = tuple[Path, str, str, str, list[ParsedSentence]]  # path, split, format, sha256, sentences


def _parse_all(targets: list[tuple[Path, str]], fmt: str | None,
               labels_file: str | Path | None) -> tuple[list[Parsed], dict[str, str | None] | None]:
    """Parse and check every file before anything is written: (parsed files, described labels)."""
    for p, sp in targets:
        if len(sp) > MAX_SPLIT:
            raise InputError(str(p), None, f"split name {sp[:40]!r}... (the file name) has {len(sp)} "
                             f"characters, at most {MAX_SPLIT} allowed")
    described = read_labels(Path(labels_file)) if labels_file else None

    parsed: list[Parsed] = []
    for p, sp in targets:
        f = detect_format(p, fmt)
        sents = parse_file(p, f)
        if described is not None:
            for s in sents:
                for e in s.entities:
                    if e.label not in described:
                        raise InputError(str(p), s.line, f"label {e.label!r} is not in the labels "
                                         f"file {labels_file}")
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        parsed.append((p, sp, f, sha, sents))

    for p, _sp, _f, _sha, sents in parsed:
        for s in sents:
            for e in s.entities:
                if len(e.label) > MAX_LABEL:
                    raise InputError(str(p), s.line, f"label of {len(e.label)} characters, at most "
                                     f"{MAX_LABEL} allowed")
    return parsed, described


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
    parsed, described = _parse_all(_collect(Path(path), split), fmt, labels_file)
    result = IngestResult(dataset)
    written: set[str] = set()  # files written by an attempt whose commit may have gone through

    def write() -> None:
        """All files in one transaction; run again from scratch when the server went away
        (the transaction rolled back, so nothing is half written)."""
        result.files.clear()
        with db.connection(url) as conn:
            with conn.transaction():
                begin_bulk(conn)
                conn.execute(Q.lock_dataset, {"name": dataset})
                ds = ensure_dataset(conn, dataset)
                seen = {e.label for *_, sents in parsed for s in sents for e in s.entities}
                labels: dict[str, str | None] = {lab: None for lab in sorted(seen)}
                if described:
                    labels.update(described)
                upsert_labels(conn, ds, labels)
                written_ids: list[tuple[int, int, int]] = []
                for p, sp, f, sha, sents in parsed:
                    if file_already_ingested(conn, ds, sp, sha):
                        result.files.append(FileResult(str(p), sp, f, len(sents),
                                                       sum(len(s.entities) for s in sents),
                                                       str(p) not in written))
                        continue
                    written.add(str(p))
                    n_s, n_e, ids = write_file(conn, ds, sp, str(p.resolve()), sha, f, sents)
                    written_ids.append(ids)
                    result.files.append(FileResult(str(p), sp, f, n_s, n_e, False))
                index_bm25(conn, ds, written_ids)
                add_to_worklist(conn, ds, written_ids)

    db.retrying(write)
    result.seconds = time.perf_counter() - t0
    return result


__all__ = ["IngestResult", "FileResult", "ingest_path"]
