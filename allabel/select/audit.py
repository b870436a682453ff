"""Audit sentences: a uniform random sample a person annotates to measure the labeller.

An audit pick is a row of ``selections`` with ``stage = 'audit'``, made by a selection run of
strategy ``audit`` (``allabel select --dataset D --strategy audit --budget N``). Audit sentences
are never demonstrations (every ``DemoPool`` leaves them out, in SQL) and go through the same
export / Label Studio / import round trip as any pick. Because the sample is uniform over the
sentences nobody picked, the labeller's score on it is an unbiased estimate for that pool
(``allabel quality``, docs/quality.md).
"""

from __future__ import annotations

import psycopg

from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("audit")


def audit_sentence_ids(conn: psycopg.Connection, dataset_id: int) -> list[int]:
    """The dataset's audit sentences (picked by any selection with stage 'audit'), ascending."""
    return [r["sentence_id"] for r in db.rows(conn, Q.audit_sentences, {"dataset_id": dataset_id})]


def taken_sentence_ids(conn: psycopg.Connection, dataset_id: int) -> set[int]:
    """Sentences an audit may not draw: picked by any selection run (annotated or waiting)."""
    return {r["sentence_id"] for r in db.rows(conn, Q.taken_sentences, {"dataset_id": dataset_id})}
