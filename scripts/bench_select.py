#!/usr/bin/env python
"""Selection benchmark (issue 4): stages 1+2 wall time (embeddings already stored), budget 5%,
both similarities, for the whole bc5cdr pool and for N = 50,000, and how time grows with N and M.

N = 50,000 is reached by replicating bc5cdr: each copy is a real sentence with one random token
dropped and one random corpus word appended (text), and its vector is the source sentence's
embedding plus Gaussian noise (sigma 0.02 per dimension), re-normalised — so copies are near,
not equal, to their source. BM25 kNN needs one BM25 query per pool sentence; it is timed on the
smaller pools.

    .venv/bin/python scripts/bench_select.py [--skip-bm25-above 15000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.benchlib import DATA, scratch_database  # noqa: E402


def make_dataset(conn, name: str, texts: list[str], X: np.ndarray, home: Path) -> None:
    from pgvector import Vector

    from allabel.core.config import get_settings
    from allabel.ingest import ingest_path

    f = home / f"{name}.txt"
    f.write_text("\n".join(texts) + "\n")
    ingest_path(f, name, "train")
    ids = [r[0] for r in conn.execute(
        "SELECT s.id FROM sentences s JOIN datasets d ON d.id = s.dataset_id WHERE d.name = %s "
        "ORDER BY s.position", (name,))]
    model = get_settings().embed_model
    with conn.cursor() as cur, cur.copy("COPY embeddings (sentence_id, model, embedding) FROM STDIN "
                                        "WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "text", "vector"])
        for sid, v in zip(ids, X, strict=True):
            copy.write_row((sid, model, Vector(v)))
    conn.commit()


def stages_1_2(name: str, budget: str, similarity: str) -> tuple[float, dict]:
    from allabel.select.run import SelectParams, select

    t = time.perf_counter()
    r = select(SelectParams(name, budget, "allabel", similarity=similarity), show_progress=False)
    assert r.status == "awaiting_annotation", r.status
    return time.perf_counter() - t, r.by_stage


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-bm25-above", type=int, default=15000)
    args = ap.parse_args()
    import tempfile

    from allabel.ingest import ingest_path
    from allabel.retrieval.embed import embed_dataset, load_vectors
    from allabel.store import db

    home = Path(tempfile.mkdtemp(prefix="allabel-bench-select-"))
    with scratch_database():
        r = ingest_path(DATA / "bc5cdr", "bc5cdr_src")
        t = time.perf_counter()
        embed_dataset("bc5cdr_src", show_progress=False)
        print(f"(setup: embedded {r.sentences} bc5cdr sentences in {time.perf_counter() - t:.0f} s)")
        conn = db.connect()
        ds = db.dataset_id(conn, "bc5cdr_src")
        ids, X = load_vectors(conn, ds)
        texts = dict(conn.execute("SELECT id, text FROM sentences WHERE dataset_id = %s", (ds,)).fetchall())
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
        sizes = [5000, len(base_texts), 25000, 50000]
        for n in sizes:
            make_dataset(conn, f"pool{n}", big_t[:n], big_X[:n], home)
        print("stages 1+2 (diversity + similarity, ratio 1:3:1, stage 3 not run), embeddings stored:")
        print(f"{'N':>7} {'budget':>7} {'M(1+2)':>7} {'embedding s':>12} {'bm25 s':>8}")
        for n in sizes:
            secs, by = stages_1_2(f"pool{n}", "5%", "embedding")
            m = sum(by.values())
            bm = "skipped"
            if n <= args.skip_bm25_above:
                b_secs, _ = stages_1_2(f"pool{n}", "5%", "bm25")
                bm = f"{b_secs:8.1f}"
            print(f"{n:>7} {'5%':>7} {m:>7} {secs:>12.1f} {bm:>8}")
        print("growth with M at N = 50,000 (embedding):")
        for budget in ("1%", "10%"):
            secs, by = stages_1_2("pool50000", budget, "embedding")
            print(f"{50000:>7} {budget:>7} {sum(by.values()):>7} {secs:>12.1f}")
        conn.close()


if __name__ == "__main__":
    main()
