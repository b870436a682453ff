"""Python face of the SQL BM25 search (``allabel.bm25_search``: allabel/sql/migrations/002_bm25.sql, postings and
MaxScore in allabel/sql/migrations/012_bm25_postings.sql, ranking key in allabel/sql/migrations/017_bm25_tie_order.sql)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from allabel.core.config import get_settings
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("bm25")


def search(conn: psycopg.Connection, dataset_id: int, query: str, k: int = 5,
           within: list[int] | None = None, exclude: int | None = None) -> list[tuple[int, float]]:
    """Top-k (sentence_id, score), best first; ``within`` restricts corpus and statistics.
    Scores are rounded to float4 and ties come lowest sentence id first (sql/017)."""
    s = get_settings()
    rows = db.rows(conn, Q.search, {"dataset_id": dataset_id, "query": query, "k": k,
                                    "within": within, "exclude": exclude,
                                    "k1": s.bm25_k1, "b": s.bm25_b})
    return [(r["sentence_id"], r["score"]) for r in rows]


@dataclass(frozen=True)
class Hit:
    """One result of ``allabel search``."""

    sentence_id: int
    score: float
    split: str
    text: str


def search_dataset(dataset: str, query: str, k: int = 5) -> list[Hit]:
    """Top-k sentences of a dataset by name with their split and text, best first (the CLI's
    ``search``; an unknown dataset is a clear error listing the known ones)."""
    s = get_settings()
    with db.connection() as conn:
        ds = db.dataset_id(conn, dataset)
        rows = db.rows(conn, Q.search_with_text, {"dataset_id": ds, "query": query, "k": k,
                                                  "k1": s.bm25_k1, "b": s.bm25_b})
    return [Hit(**r) for r in rows]


class PoolIndex:
    """An exact in-process copy of ``bm25_search(..., within=pool)`` for one demonstration pool.

    Retrieval runs once per predicted sentence against the same annotated pool; pulling the
    pool's lexemes once and scoring in numpy turns a ~50 ms SQL call (it has to re-derive the
    pool's statistics every time) into well under a millisecond. Same lexemes (Postgres'
    ``bm25_lexemes``), same formula, same ranking key (the score rounded to float32, then the
    sentence id: sentences with repeated text tie whatever order their float64 sums were added
    in, as in bm25s, which scores in float32; allabel/sql/migrations/017_bm25_tie_order.sql); a test checks it
    against the SQL function.
    """

    def __init__(self, conn: psycopg.Connection, dataset_id: int, ids: list[int]):
        import numpy as np

        s = get_settings()
        self.k1, self.b = s.bm25_k1, s.bm25_b
        rows = conn.execute(Q.pool_postings, {"ids": ids, "dataset_id": dataset_id}).fetchall()
        self.ids = np.array(sorted({sid for sid, _lexeme, _tf in rows}), dtype=np.int64)
        pos = {sid: i for i, sid in enumerate(self.ids.tolist())}
        dl = np.zeros(len(self.ids))
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for sid, lexeme, tf in rows:
            if lexeme is None:
                continue
            i = pos[sid]
            dl[i] += tf
            d, t = postings.setdefault(lexeme, ([], []))
            d.append(i)
            t.append(tf)
        self.n = len(self.ids)
        avgdl = dl.sum() / max(self.n, 1)
        self.norm = self.k1 * (1 - self.b + self.b * dl / avgdl) if avgdl > 0 else np.ones(self.n)
        self.postings = {lx: (np.array(d), np.array(t, dtype=np.float64))
                         for lx, (d, t) in postings.items()}

    def query_lexemes(self, conn: psycopg.Connection, texts: list[str]) -> list[list[tuple[str, int]]]:
        out: list[list[tuple[str, int]]] = [[] for _ in texts]
        for i, lexeme, qtf in conn.execute(Q.query_lexemes, {"texts": texts}):
            out[i - 1].append((lexeme, qtf))
        return out

    def search(self, lexemes: list[tuple[str, int]], k: int,
               exclude: int | None = None) -> list[tuple[int, float]]:
        import math

        import numpy as np

        if self.n == 0 or k <= 0:
            return []
        score = np.zeros(self.n)
        hit = np.zeros(self.n, dtype=bool)
        for lexeme, qtf in lexemes:
            p = self.postings.get(lexeme)
            if p is None:
                continue
            docs, tf = p
            idf = math.log(1 + (self.n - len(docs) + 0.5) / (len(docs) + 0.5))
            score[docs] += qtf * idf * tf / (tf + self.norm[docs])
            hit[docs] = True
        if exclude is not None:
            hit[self.ids == exclude] = False
        cand = np.flatnonzero(hit)
        key = score[cand].astype(np.float32)  # round to nearest, as Postgres' float8::float4
        order = np.lexsort((self.ids[cand], -key))[:k]
        return [(int(self.ids[cand[i]]), float(key[i])) for i in order]
