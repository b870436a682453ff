"""Demonstrations: the annotated sentences a prompt's examples are retrieved from.

Two sources, named explicitly on the command line (``--demos``): ``run:N`` — the annotated
sentences of selection run N with their human (or oracle) entities — and ``split:NAME`` — the gold
entities of a whole split (never ``test``). A bare number still means a run and a bare word a
split (documented before the prefixes existed); a bare number that is also a split's name is
refused as ambiguous. The pool's ``source`` string (``run:N`` / ``split:NAME``) is part of a
prediction run's identity and must never change spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

from allabel.core.errors import ConfigError
from allabel.predict.prompt import Demo
from allabel.retrieval import bm25
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("predict")


@dataclass
class DemoPool:
    """Annotated sentences demonstrations are retrieved from (BM25 over this pool only)."""

    dataset_id: int
    source: str                                   # "run:<id>" or "split:<name>"
    demos: dict[int, Demo] = field(default_factory=dict)
    index: bm25.PoolIndex | None = field(default=None, repr=False)  # built on first retrieval

    @property
    def ids(self) -> list[int]:
        return list(self.demos)

    @classmethod
    def _load(cls, dataset_id: int, source: str, cur: psycopg.Cursor) -> DemoPool:
        return cls(dataset_id, source, {
            r["id"]: Demo(r["text"], list(zip(r["starts"], r["ends"], r["labels"], r["texts"],
                                              strict=True)))
            for r in cur.fetchall()})

    @classmethod
    def from_run(cls, conn: psycopg.Connection, run_id: int) -> DemoPool:
        """The annotated sentences of a selection run, with their human entities."""
        run = db.one(conn, Q.run_dataset, {"run_id": run_id})
        if run is None or run["kind"] != "selection":
            raise ConfigError(f"run {run_id} is not a selection run")
        with conn.cursor(row_factory=dict_row) as cur:
            return cls._load(run["dataset_id"], f"run:{run_id}",
                             cur.execute(Q.demos_from_run, {"run_id": run_id}))

    @classmethod
    def from_gold(cls, conn: psycopg.Connection, dataset_id: int, source: str,
                  split: str | None = None, ids: list[int] | None = None) -> DemoPool:
        """Gold entities of a split's sentences and/or of given sentences (cost estimates use
        the latter as a stand-in for annotations not made yet)."""
        with conn.cursor(row_factory=dict_row) as cur:
            return cls._load(dataset_id, source, cur.execute(Q.gold_demos, {
                "dataset_id": dataset_id, "split": split, "ids": ids}))

    @classmethod
    def from_split(cls, conn: psycopg.Connection, dataset_id: int, split: str) -> DemoPool:
        if split == "test":
            raise ConfigError("demonstrations never come from the test split's gold")
        pool = cls.from_gold(conn, dataset_id, f"split:{split}", split=split)
        if not pool.demos:
            raise ConfigError(f"split {split!r} of this dataset has no sentences")
        return pool

    @classmethod
    def resolve(cls, conn: psycopg.Connection, dataset_id: int, demos: str) -> DemoPool:
        """``--demos``: ``run:N``, ``split:NAME``, or a bare run id / split name."""
        kind, name = parse_source(conn, dataset_id, demos)
        if kind == "split":
            return cls.from_split(conn, dataset_id, name)
        pool = cls.from_run(conn, int(name))
        if pool.dataset_id != dataset_id:
            raise ConfigError(f"run {name} belongs to another dataset")
        return pool

    def retrieve(self, conn: psycopg.Connection, text: str, k: int, exclude: int) -> list[int]:
        """The k most BM25-similar pool sentences, most similar last; never ``exclude``."""
        return self.retrieve_many(conn, [(text, exclude)], k)[0]

    def retrieve_many(self, conn: psycopg.Connection, queries: list[tuple[str, int]],
                      k: int) -> list[list[int]]:
        """Demonstrations for several (text, sentence id) at once (one SQL call for lexemes).

        BM25 over the pool only (exactly ``bm25_search(..., within=pool)``, computed in process).
        When fewer than k pool sentences share a word with the sentence, the rest are filled with
        pool sentences in id order (placed first), so the model always sees k examples of the
        answer format."""
        if k <= 0 or not self.demos:
            return [[] for _ in queries]
        if self.index is None:
            self.index = bm25.PoolIndex(conn, self.dataset_id, self.ids)
        lexemes = self.index.query_lexemes(conn, [t for t, _ in queries])
        out = []
        for (_, exclude), lx in zip(queries, lexemes, strict=True):
            hits = [sid for sid, _ in self.index.search(lx, k, exclude)]
            if len(hits) < k:
                hits += [i for i in self.ids if i != exclude and i not in hits][: k - len(hits)]
            out.append(list(reversed(hits)))
        return out

    def __getstate__(self) -> dict:  # worker processes rebuild the index themselves
        return {**self.__dict__, "index": None}


def parse_source(conn: psycopg.Connection, dataset_id: int, demos: str) -> tuple[str, str]:
    """(``run`` | ``split``, name) of a ``--demos`` value; a clear error when it is malformed or
    a bare number names both a run and a split of this dataset."""
    kind, sep, name = demos.partition(":")
    if sep:
        if kind not in ("run", "split") or not name:
            raise ConfigError(f"--demos {demos!r}: expected run:ID, split:NAME, an id or a split name")
        if kind == "run" and not name.isdigit():
            raise ConfigError(f"--demos {demos!r}: a run id is a number")
        return kind, name
    if not demos.isdigit():
        return "split", demos
    if conn.execute(Q.split_exists, {"dataset_id": dataset_id, "split": demos}).fetchone():
        raise ConfigError(f"--demos {demos} is ambiguous: this dataset has a split named "
                          f"{demos!r}; write run:{demos} or split:{demos}")
    return "run", demos
