#!/usr/bin/env python
"""Selection benchmark (issue 4): stages 1+2 wall time (embeddings already stored), budget 5%,
both similarities, for the whole bc5cdr pool and for N = 50,000, and how time grows with N and M.

N = 50,000 is reached by replicating bc5cdr: each copy is a real sentence with one random token
dropped and one random corpus word appended (text), and its vector is the source sentence's
embedding plus Gaussian noise (sigma 0.02 per dimension), re-normalised — so copies are near,
not equal, to their source. BM25 kNN needs one BM25 query per pool sentence; it is timed on the
smaller pools.

``--round`` (issue 29) measures instead a round of the campaign on the 50,000 pool: 2,000
sentences annotated first (a random round, oracle), then a round of 1% (stages 1+2, exclusion,
stage 1 continuing from the 2,000) and, in the same run, a fresh independent selection of the
same size (``allow_annotated``).

``--vectors FILE.npz`` (``texts`` and ``X``, e.g. the train split of an embedded bc5cdr) skips
ingesting and embedding bc5cdr here (the slow part on a loaded machine).

    .venv/bin/python scripts/bench_select.py [--skip-bm25-above 15000] [--round] [--vectors FILE.npz]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from allabel.store import db  # noqa: E402
from allabel.store.sqlfiles import queries  # noqa: E402
from scripts.benchlib import DATA, scratch_database, script_queries  # noqa: E402

SQL = script_queries("bench_select")
EMBED_SQL = queries("embed")


def make_dataset(conn, name: str, texts: list[str], X: np.ndarray, home: Path) -> None:
    from pgvector import Vector

    from allabel.core.config import get_settings
    from allabel.ingest import ingest_path

    f = home / f"{name}.txt"
    f.write_text("\n".join(texts) + "\n")
    ingest_path(f, name, "train")
    ids = [r["id"] for r in db.rows(conn, SQL.sentence_ids_in_order, {"name": name})]
    model = get_settings().embed_model
    with conn.cursor() as cur, cur.copy(EMBED_SQL.copy_embeddings) as copy:
        copy.set_types(["int8", "text", "vector"])
        for sid, v in zip(ids, X, strict=True):
            copy.write_row((sid, model, Vector(v)))
    conn.commit()


def stages_1_2(name: str, budget: str, similarity: str, allow_annotated: bool = True
               ) -> tuple[float, dict, dict]:
    from allabel.select.params import SelectParams
    from allabel.select.run import select

    t = time.perf_counter()
    r = select(SelectParams(name, budget, "allabel", similarity=similarity,
                            allow_annotated=allow_annotated), show_progress=False)
    assert r.status == "awaiting_annotation", r.status
    secs = time.perf_counter() - t
    with db.connection() as conn:  # the stage timings the run recorded
        stats = db.one(conn, SQL.run_stats, {"run_id": r.run_id})["stats"]
    return secs, r.by_stage, stats.get("timings", {})


def round_overhead(name: str, annotated: int) -> None:
    """A round after ``annotated`` sentences beside a fresh selection of the same size."""
    from allabel.select.params import SelectParams
    from allabel.select.run import select

    t = time.perf_counter()
    r = select(SelectParams(name, str(annotated), "random", oracle=True, allow_annotated=False),
               show_progress=False)
    print(f"(setup: {r.selected} sentences annotated by a random round in {time.perf_counter() - t:.1f} s)")
    print(f"{'selection':>34} {'M(1+2)':>7} {'total s':>8} {'stage 1 s':>10} {'stage 2 s':>10}")
    for label, allow in ((f"round after {annotated} annotated", False), ("fresh (independent)", True)):
        secs, by, parts = stages_1_2(name, "1%", "embedding", allow_annotated=allow)
        print(f"{label:>34} {sum(by.values()):>7} {secs:>8.1f} {parts.get('diversity', 0):>10.1f} "
              f"{parts.get('similarity', 0):>10.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-bm25-above", type=int, default=15000)
    ap.add_argument("--vectors", type=Path, help="npz with texts and X instead of embedding bc5cdr here")
    ap.add_argument("--round", action="store_true",
                    help="Only the round overhead at N = 50,000 with 2,000 annotated (issue 29).")
    args = ap.parse_args()
    import tempfile

    from allabel.ingest import ingest_path
    from allabel.retrieval.embed import embed_dataset, load_vectors

    home = Path(tempfile.mkdtemp(prefix="allabel-bench-select-"))
    with scratch_database():
        conn = db.connect()
        if args.vectors is not None:
            saved = np.load(args.vectors, allow_pickle=False)
            base_texts, X = [str(t) for t in saved["texts"]], saved["X"].astype(np.float32)
            print(f"(setup: {len(base_texts)} sentences and vectors from {args.vectors})")
        else:
            r = ingest_path(DATA / "bc5cdr", "bc5cdr_src")
            t = time.perf_counter()
            embed_dataset("bc5cdr_src", show_progress=False)
            print(f"(setup: embedded {r.sentences} bc5cdr sentences in {time.perf_counter() - t:.0f} s)")
            ds = db.dataset_id(conn, "bc5cdr_src")
            ids, X = load_vectors(conn, ds)
            texts = {r["id"]: r["text"] for r in db.rows(conn, SQL.dataset_texts, {"dataset_id": ds})}
            base_texts = [texts[int(i)] for i in ids]
        rng = random.Random(0)
        nrng = np.random.default_rng(0)
        words = [w for t in base_texts[:3000] for w in t.split()]
        big_t, big_X = list(base_texts), [X]
        while len(big_t) < 50_000:
            src = rng.randrange(len(base_texts))
            toks = base_texts[src].split()
            if len(toks) > 3:
                del toks[rng.randrange(len(toks))]
            toks.append(rng.choice(words))
            big_t.append(" ".join(toks))
            v = X[src] + nrng.normal(0, 0.02, X.shape[1]).astype(np.float32)
            big_X.append((v / np.linalg.norm(v))[None, :])
        big_X = np.vstack(big_X)
        if args.round:
            make_dataset(conn, "pool50000", big_t, big_X, home)
            round_overhead("pool50000", 2000)
            conn.close()
            return
        sizes = [5000, len(base_texts), 25000, 50000]
        for n in sizes:
            make_dataset(conn, f"pool{n}", big_t[:n], big_X[:n], home)
        print("stages 1+2 (diversity + similarity, ratio 1:3:1, stage 3 not run), embeddings stored:")
        print(f"{'N':>7} {'budget':>7} {'M(1+2)':>7} {'embedding s':>12} {'bm25 s':>8}")
        for n in sizes:
            secs, by, _ = stages_1_2(f"pool{n}", "5%", "embedding")
            m = sum(by.values())
            bm = "skipped"
            if n <= args.skip_bm25_above:
                b_secs, _, _ = stages_1_2(f"pool{n}", "5%", "bm25")
                bm = f"{b_secs:8.1f}"
            print(f"{n:>7} {'5%':>7} {m:>7} {secs:>12.1f} {bm:>8}")
        print("growth with M at N = 50,000 (embedding):")
        for budget in ("1%", "10%"):
            secs, by, _ = stages_1_2("pool50000", budget, "embedding")
            print(f"{50000:>7} {budget:>7} {sum(by.values()):>7} {secs:>12.1f}")
        conn.close()


if __name__ == "__main__":
    main()
