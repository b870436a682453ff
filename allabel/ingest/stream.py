"""Parsing in a background thread while the ingest transaction writes what is already parsed.

An ingest costs CPU on both sides: the client parses (CoNLL is one Python step a line) and the
server computes lexemes and writes rows and indexes. Parsed one after the other they add up; with
the parser in its own thread, feeding chunks of sentences to the COPY of the writer, the server
works on chunk k while the client parses chunk k+1 (the writer thread waits on the socket with
the GIL released), and on a machine with two cores an ingest takes about the larger of the two
instead of their sum.

Bad input still changes nothing: an error found late in a file reaches the writer, whose single
transaction then rolls back everything it wrote. Events that the writer has taken are kept, so a
write that is run again after the server went away (``db.retrying``) replays them instead of
parsing again.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from allabel.core.errors import InputError
from allabel.core.limits import MAX_LABEL
from allabel.formats.corpus import ParsedSentence, detect_format, iter_file

CHUNK = 1_000     # sentences per chunk handed to the writer (one COPY write)
LOOKAHEAD = 32    # chunks the parser may be ahead of the writer (bounds the queue's memory)


@dataclass
class FileStart:
    """A file's content is read and hashed; its sentences follow as ``Chunk``s."""

    path: Path
    split: str
    fmt: str
    sha256: str


@dataclass
class Chunk:
    sentences: list[ParsedSentence]


@dataclass
class FileEnd:
    """The file is parsed and valid: its sentence and entity counts and the labels it uses."""

    sentences: int
    entities: int
    labels: set[str] = field(default_factory=set)


Event = FileStart | Chunk | FileEnd


class ParsedStream:
    """The events of parsing ``targets`` (path, split) in order, produced by a daemon thread."""

    def __init__(self, targets: list[tuple[Path, str]], fmt: str | None,
                 described: dict[str, str | None] | None, labels_file: str | Path | None) -> None:
        self._targets, self._fmt = targets, fmt
        self._described, self._labels_file = described, labels_file
        self._queue: queue.Queue[Event | BaseException | None] = queue.Queue(maxsize=LOOKAHEAD)
        self._taken: list[Event] = []
        self._finished = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="allabel-ingest-parse", daemon=True)
        self._thread.start()

    def _put(self, item: Event | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _run(self) -> None:
        try:
            for path, split in self._targets:
                self._parse(path, split)
            self._put(None)
        except _Stopped:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the writer, which raises it
            try:
                self._put(e)
            except _Stopped:
                pass

    def _parse(self, path: Path, split: str) -> None:
        fmt = detect_format(path, self._fmt)
        data = path.read_bytes()
        self._put(FileStart(path, split, fmt, hashlib.sha256(data).hexdigest()))
        n = n_ent = 0
        labels: set[str] = set()
        buf: list[ParsedSentence] = []
        for s in iter_file(path, fmt, data):
            for e in s.entities:
                if self._described is not None and e.label not in self._described:
                    raise InputError(str(path), s.line, f"label {e.label!r} is not in the labels "
                                     f"file {self._labels_file}")
                if len(e.label) > MAX_LABEL:
                    raise InputError(str(path), s.line, f"label of {len(e.label)} characters, at "
                                     f"most {MAX_LABEL} allowed")
                labels.add(e.label)
            n += 1
            n_ent += len(s.entities)
            buf.append(s)
            if len(buf) >= CHUNK:
                self._put(Chunk(buf))
                buf = []
        if buf:
            self._put(Chunk(buf))
        self._put(FileEnd(n, n_ent, labels))

    def __iter__(self) -> Iterator[Event]:
        """Every event from the first: those taken by an earlier pass, then new ones. A parse
        error is raised here, in the writer's thread."""
        yield from list(self._taken)
        while not self._finished:
            item = self._queue.get()
            if item is None:
                self._finished = True
                return
            if isinstance(item, BaseException):
                self._queue.put(item)  # raised again by a later pass
                raise item
            self._taken.append(item)
            yield item

    def close(self) -> None:
        """Stop the parser (after an error in the writer, or when done)."""
        self._stop.set()
        self._thread.join()


class _Stopped(Exception):
    """The writer gave up; the parser stops quietly."""
