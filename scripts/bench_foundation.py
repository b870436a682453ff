#!/usr/bin/env python
"""Foundation benchmark (issue 2): ingest, embed and BM25 figures, printed side by side.

Runs against a throw-away embedded Postgres under /tmp. Usage:
    .venv/bin/python scripts/bench_foundation.py [--embed-n 2000] [--queries 200]
(--embed-n 0 skips the embedding figure.) The BM25 lines give this process's and the server's CPU
seconds beside the wall time and the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from allabel.core.config import apply_thread_limits
from allabel.experiments.corpora import data_dir
from allabel.store import db, migrate, server
from scripts.bench_predict_new import Meter, bm25s_index  # noqa: E402

DATA = data_dir()  # the repository's data/ (or ALLABEL_DATA)


def bench_embed(conn, url: str, n: int) -> None:
    from allabel.retrieval.embed import embed_worker, load_model

    model = load_model()
    texts = [t for (t,) in conn.execute(
        "SELECT text FROM sentences WHERE dataset_id = 1 ORDER BY id LIMIT %s", (n,))]
    model.encode(texts[:64])  # warm up
    t = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True)
    direct = len(texts) / (time.perf_counter() - t)
    conn.execute("CREATE TABLE bench_keep AS SELECT id FROM sentences WHERE dataset_id = 1 "
                 "ORDER BY id LIMIT %s", (n,))
    # only the first embed_n sentences of the dataset: a dataset holding just those
    conn.execute("INSERT INTO datasets (name) VALUES ('embed_bench')")
    conn.execute("INSERT INTO sentences (dataset_id, split, position, text) "
                 "SELECT (SELECT id FROM datasets WHERE name='embed_bench'), 'x', "
                 "row_number() OVER (ORDER BY id), text FROM sentences "
                 "WHERE id IN (SELECT id FROM bench_keep)")
    conn.commit()
    ds = conn.execute("SELECT id FROM datasets WHERE name='embed_bench'").fetchone()[0]
    st = embed_worker(ds, 256, url)
    ours = st.embedded / st.seconds
    print(f"embed: allabel embed {ours:,.0f} sentences/s | SentenceTransformer.encode "
          f"{direct:,.0f} sentences/s | overhead {100 * (direct / ours - 1):.1f}% "
          f"(target <= 10%; {st.embedded} sentences)")


def bench_bm25(conn, dataset_id: int, n_queries: int, label: str, pm: psutil.Process) -> None:
    from allabel.retrieval import bm25

    texts = [t for (t,) in conn.execute(
        "SELECT text FROM sentences WHERE dataset_id = %s ORDER BY id", (dataset_id,))]
    qs = random.Random(1).sample(texts, n_queries)
    bm25.search(conn, dataset_id, qs[0])  # warm up
    m = Meter(pm)
    t = time.perf_counter()
    ours = [bm25.search(conn, dataset_id, q, k=5) for q in qs]
    ours_qps = n_queries / (time.perf_counter() - t)
    ours_cost = str(m)
    r, ids, vocab = bm25s_index(conn, dataset_id)
    qtok = [[vocab[lx] for lx, c in conn.execute(
        "SELECT lexeme, coalesce(cardinality(positions),1) FROM unnest(bm25_lexemes(%s))",
        (q,)).fetchall() for _ in range(c) if lx in vocab] for q in qs]
    t = time.perf_counter()
    ref = []
    for qt in qtok:
        sc = r.get_scores(qt)
        top = np.argpartition(-sc, 5)[:5]
        ref.append(top[np.argsort(-sc[top])])
    ref_qps = n_queries / (time.perf_counter() - t)
    equal = 0
    for o, qt in zip(ours, qtok, strict=False):
        sc = np.asarray(r.get_scores(qt), np.float64)
        order = sorted(range(len(ids)), key=lambda i: (-sc[i], ids[i]))[:5]
        exp = [(int(ids[i]), sc[i]) for i in order if sc[i] > 0]
        equal += [x[0] for x in o] == [e[0] for e in exp] and np.allclose(
            [x[1] for x in o], [e[1] for e in exp], rtol=1e-5)
    print(f"BM25 top-5 @ {label:>6} sentences: ours {ours_qps:7.1f} q/s | bm25s {ref_qps:7.1f} q/s "
          f"| equal results {equal}/{n_queries} (ours: {ours_cost})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--embed-n", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    apply_thread_limits()
    home = Path(tempfile.mkdtemp(prefix="allabel-bench-", dir="/tmp"))
    try:
        url = server.acquire(home)
        migrate.upgrade(url)
        from allabel.ingest import ingest_path

        # ---- ingest --------------------------------------------------------------------
        total_s, total_t = 0, 0.0
        for corpus in sorted(p for p in DATA.iterdir() if p.is_dir()):
            r = ingest_path(corpus, corpus.name, url=url)
            total_s += r.sentences
            total_t += r.seconds
        print(f"ingest: {total_s:,} sentences in {total_t:.2f} s = {total_s / total_t:,.0f} sentences/s"
              f" (target >= 20,000/s)")

        conn = db.connect(url)
        pm = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0]).parent()
        if args.embed_n > 0:
            bench_embed(conn, url, args.embed_n)

        # ---- BM25 ----------------------------------------------------------------------
        bc = conn.execute("SELECT id FROM datasets WHERE name = 'bc5cdr'").fetchone()[0]
        conn.execute("INSERT INTO datasets (name) VALUES ('bm25_5k')")
        conn.execute("INSERT INTO sentences (dataset_id, split, position, text) "
                     "SELECT (SELECT id FROM datasets WHERE name='bm25_5k'), 'x', "
                     "row_number() OVER (ORDER BY id), text FROM sentences WHERE dataset_id = %s "
                     "ORDER BY id LIMIT 5000", (bc,))
        conn.execute("ANALYZE sentences")
        conn.commit()
        ds5 = conn.execute("SELECT id FROM datasets WHERE name='bm25_5k'").fetchone()[0]
        bench_bm25(conn, ds5, args.queries, "5k", pm)
        # ~50k: every sentence of both corpora, plus perturbed copies (one random token
        # dropped and one random corpus word appended) until 50,000
        base = [t for (t,) in conn.execute(
            "SELECT text FROM sentences WHERE dataset_id IN (SELECT id FROM datasets "
            "WHERE name IN ('bc5cdr', 'ncbi-disease')) ORDER BY id")]
        rng = random.Random(0)
        words = [w for t in base[:2000] for w in t.split()]
        out = list(base)
        while len(out) < 50_000:
            toks = rng.choice(base).split()
            if len(toks) > 3:
                del toks[rng.randrange(len(toks))]
            toks.append(rng.choice(words))
            out.append(" ".join(toks))
        f = home / "big.txt"
        f.write_text("\n".join(out) + "\n")
        ingest_path(f, "bm25_50k", "x", url=url)
        ds50 = conn.execute("SELECT id FROM datasets WHERE name='bm25_50k'").fetchone()[0]
        bench_bm25(conn, ds50, args.queries, "50k", pm)
        conn.close()
    finally:
        server.stop(home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
