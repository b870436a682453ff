"""The entity prior (issue 30): which pool sentences probably name an entity, before anyone
annotates and without an LLM call.

Sparse literature (most sentences name no entity) defeats selection that looks only at the
texts' geometry: stage 2 picks headings and boilerplate, and a demonstration without an entity
teaches the LLM little. What the pool does say about entities without gold is how close a
sentence is to the labels it is to be annotated with: the prior of sentence s for label L is the
cosine similarity of s's embedding to the embedding of ``"L: description"`` (the ``--labels``
description; the label name alone when there is none).

``--strategy …+ent`` (``entity_prior = Q``) lets stages 1 and 2 (and ``random+ent``, and stage 3's
candidates) pick only sentences in the top ``1 - Q`` share of the pool **for at least one label**
— each label has its own quantile, so a label whose descriptions sit lower in embedding space is
not crowded out (type coverage). On data/bc5cdr-chem-sparse's train pool (19% of sentences name a
chemical) the top quarter by prior held 38% sentences with a chemical, 46% together with
``+long`` (docs/results.md, "Sparse corpus").
"""

from __future__ import annotations

import numpy as np
import psycopg

from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("select_sparse")


def label_texts(conn: psycopg.Connection, dataset_id: int) -> dict[str, str]:
    """label -> the text its prior compares sentences with."""
    return {r["name"]: f"{r['name']}: {r['description']}" if r["description"] else r["name"]
            for r in db.rows(conn, Q.label_texts, {"dataset_id": dataset_id})}


def label_priors(X: np.ndarray, label_vectors: np.ndarray) -> np.ndarray:
    """[N, L] cosine similarities of the (unit) sentence vectors to the (unit) label vectors."""
    return X @ label_vectors.T


def prior_blocked(priors: np.ndarray, quantile: float) -> np.ndarray:
    """True where a sentence is below the ``quantile`` of its pool for every label."""
    if quantile <= 0 or priors.size == 0:
        return np.zeros(priors.shape[0], bool)
    floors = np.quantile(priors, quantile, axis=0)
    return ~(priors >= floors).any(axis=1)


def pool_priors(conn: psycopg.Connection, dataset_id: int, X: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The dataset's labels and the pool's [N, L] priors (the bundled embedding model encodes
    the label texts; nothing is downloaded)."""
    from allabel.retrieval.embed import encode  # deferred: loads the sentence-transformers model

    texts = label_texts(conn, dataset_id)
    names = sorted(texts)
    if not names:
        return [], np.zeros((X.shape[0], 0), np.float32)
    return names, label_priors(X, encode([texts[n] for n in names]))


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank among its column, as a share in (0, 1] (ties by pool order)."""
    ranks = np.argsort(np.argsort(values, axis=0, kind="stable"), axis=0, kind="stable") + 1
    return ranks / max(values.shape[0], 1)


def entity_weighted(credit: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Stage 2's score under ``+ent``: the percentile rank of its kNN credit plus its best
    per-label percentile rank of the prior (a Borda count of "retrievable" and "names an
    entity"). Alone, the credit favours the pool's most typical sentences, and in a sparse pool
    the typical sentence names no entity (data/bc5cdr-chem-sparse, train pool, top quarter by
    prior and at least median length: stage 2's 12 best by credit held 0.17 chemicals each,
    by this score 1.67)."""
    if priors.shape[1] == 0:
        return credit
    return percentile_ranks(credit) + percentile_ranks(priors).max(axis=1)
