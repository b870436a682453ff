"""Identical texts are candidates once (issue 30): a pool that repeats a sentence ("Abstract",
"Materials and Methods", a boilerplate line of every abstract) must not spend two annotations on it.

Normalisation: casefold, then every run of whitespace collapsed to one space and the ends
stripped (``" ".join(text.casefold().split())``). Of each group of pool sentences with the same
normalised text the one with the lowest id is the representative; the others are blocked in every
stage (``--strategy …+clean``/``+ent``). Their annotation is not copied into the run: a copy adds
no demonstration the representative does not already give (BM25 would retrieve the same text
twice), and the duplicates are predicted like any other sentence.
"""

from __future__ import annotations

import numpy as np
import psycopg

from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("select")


def normalise(text: str) -> str:
    """The text two sentences must share to count as the same: casefolded, whitespace collapsed."""
    return " ".join(text.casefold().split())


def duplicate_mask(texts: list[str]) -> np.ndarray:
    """True for every text whose normalised form appeared earlier in ``texts`` (pool order =
    id order, so the lowest id of each group stays selectable)."""
    seen: set[str] = set()
    out = np.zeros(len(texts), bool)
    for i, t in enumerate(texts):
        key = normalise(t)
        out[i] = key in seen
        seen.add(key)
    return out


def pool_duplicates(conn: psycopg.Connection, pool: list[int]) -> np.ndarray:
    """The duplicate mask over ``pool`` (sorted ids) read from the database."""
    texts = {r["id"]: r["text"] for r in db.rows(conn, Q.texts, {"ids": pool})}
    return duplicate_mask([texts[s] for s in pool])
