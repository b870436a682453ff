"""What quality scores: a person's latest annotation of each sentence (the truth) and a
prediction run's mentions on the same sentences, shaped as the Arrow tables that
``allabel.experiments.evaluate`` counts in DuckDB (so every figure here is the same strict / partial match
as ``allabel evaluate``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
import pyarrow as pa

from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("quality")

SPAN_SCHEMA = pa.schema([("sentence_id", pa.int64()), ("start_char", pa.int32()),
                         ("end_char", pa.int32()), ("label", pa.string())])
MENTION_SCHEMA = pa.schema([("entity_id", pa.int64()), ("sentence_id", pa.int64()),
                            ("start_char", pa.int32()), ("end_char", pa.int32()), ("label", pa.string())])


@dataclass
class Sample:
    """Sentences a person annotated, the truth on them and a labeller's answers.

    ``mentions`` carry ``entity_id`` and raw ``confidence``; ``answers`` holds one row per
    sentence (parse_status, perplexity, n_entities)."""

    sentences: list[int]
    truth: list[dict[str, Any]]
    mentions: list[dict[str, Any]]
    labels: list[str]
    answers: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def gold_mentions(self) -> int:
        return len({(t["sentence_id"], t["start_char"], t["end_char"], t["label"]) for t in self.truth})

    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
        """(gold, pred, labels, sentences) for ``allabel.experiments.evaluate.compute`` / ``per_sentence_label``."""
        gold = pa.Table.from_pylist([_span(t) for t in self.truth], schema=SPAN_SCHEMA)
        pred = pa.Table.from_pylist([_span(m) for m in self.mentions], schema=SPAN_SCHEMA)
        labels = pa.table({"label": pa.array(self.labels, pa.string())})
        sentences = pa.table({"sentence_id": pa.array(self.sentences, pa.int64())})
        return gold, pred, labels, sentences

    def mention_table(self) -> pa.Table:
        return pa.Table.from_pylist([{**_span(m), "entity_id": m["entity_id"]} for m in self.mentions],
                                    schema=MENTION_SCHEMA)

    def merged(self, other: Sample) -> Sample:
        """Both samples together (calibration is fitted on audit and cross-validation mentions)."""
        return Sample(self.sentences + other.sentences, self.truth + other.truth,
                      self.mentions + other.mentions, self.labels, {**self.answers, **other.answers})


def _span(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("sentence_id", "start_char", "end_char", "label")}


def labels_of(conn: psycopg.Connection, run_id: int) -> list[str]:
    return [r["label"] for r in db.rows(conn, Q.run_labels, {"run_id": run_id})]


def truth(conn: psycopg.Connection, ids: list[int]) -> list[dict[str, Any]]:
    """The entities of the latest annotation of each sentence in ``ids``."""
    return db.rows(conn, Q.truth, {"ids": ids})


def answers(conn: psycopg.Connection, run_id: int, ids: list[int]) -> dict[int, dict[str, Any]]:
    """{sentence: answer row} for the sentences of ``ids`` the run has finished."""
    return {r["sentence_id"]: r for r in db.rows(conn, Q.done_sentences, {"run_id": run_id, "ids": ids})}


def mentions(conn: psycopg.Connection, run_id: int, ids: list[int] | None) -> list[dict[str, Any]]:
    """The run's LLM mentions on ``ids`` (None: on every sentence it finished)."""
    return db.rows(conn, Q.mentions, {"run_id": run_id, "ids": ids})


def sample(conn: psycopg.Connection, answered_by: dict[int, list[int]], labels: list[str],
           truth_rows: list[dict[str, Any]] | None = None) -> Sample:
    """The sample of sentences ``answered_by`` {prediction run: its sentences}: each sentence
    scored on the answer of the run it is listed under."""
    ids = sorted(s for group in answered_by.values() for s in group)
    ments: list[dict[str, Any]] = []
    ans: dict[int, dict[str, Any]] = {}
    for run_id, group in answered_by.items():
        if group:
            ments += mentions(conn, run_id, group)
            ans.update(answers(conn, run_id, group))
    return Sample(ids, truth(conn, ids) if truth_rows is None else truth_rows, ments, labels, ans)
