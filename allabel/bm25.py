"""Python face of the SQL BM25 search (``allabel.bm25_search``, sql/002_bm25.sql)."""

from __future__ import annotations

import psycopg

from allabel.config import get_settings
from allabel.sqlfiles import queries

Q = queries("bm25")


def search(conn: psycopg.Connection, dataset_id: int, query: str, k: int = 5,
           within: list[int] | None = None, exclude: int | None = None,
           within_avgdl: float | None = None) -> list[tuple[int, float]]:
    """Top-k (sentence_id, score), best first; ``within`` restricts corpus and statistics
    (``within_avgdl``, from ``pool_avgdl``, saves recomputing the set's mean length per query)."""
    s = get_settings()
    rows = conn.execute(Q.search, {"dataset_id": dataset_id, "query": query, "k": k,
                                   "within": within, "exclude": exclude,
                                   "k1": s.bm25_k1, "b": s.bm25_b, "avgdl": within_avgdl}).fetchall()
    return [(r[0], r[1]) for r in rows]


def pool_avgdl(conn: psycopg.Connection, ids: list[int]) -> float:
    return conn.execute(Q.pool_avgdl, {"ids": ids}).fetchone()[0]
