#!/usr/bin/env python
"""Scale benchmark (issue 15): stages 1+2 at large N, approximate kNN libraries, predict --new.

Vectors follow bench_select.py's replication scheme: the bc5cdr sentences' real embeddings, then
copies of them plus Gaussian noise (sigma 0.02 per dimension), re-normalised, up to N.
Stages 1+2 run on the vectors in memory (budget 5%: stage 1 = 1%, stage 2 = 3% of N), each
configuration in its own process so that its peak memory (max RSS) is its own. Each line gives
wall and CPU seconds (the process, all threads) and the load average, since wall time on a shared
machine depends on what else runs.

    .venv/bin/python scripts/bench_scale.py --stages 50000,250000,1000000 [--vectors cache.npy] [--threads 2]
    .venv/bin/python scripts/bench_scale.py --knn-libs 50000 [--no-pgvector]
    .venv/bin/python scripts/bench_scale.py --predict-new 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.benchlib import DATA  # noqa: E402


def source_vectors(cache: Path | None) -> np.ndarray:
    if cache is not None and cache.exists():
        return np.load(cache)
    from allabel.core.config import apply_thread_limits
    from allabel.formats.corpus import parse_file
    from allabel.retrieval.embed import load_model

    apply_thread_limits()
    texts = [s.text for f in sorted((DATA / "bc5cdr").glob("*.tsv")) for s in parse_file(f, "conll")]
    X = load_model().encode(texts, batch_size=64, normalize_embeddings=True).astype(np.float32)
    if cache is not None:
        np.save(cache, X)
    return X


def replicate(src: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.empty((n, src.shape[1]), np.float32)
    X[:min(n, len(src))] = src[:n]
    for a in range(len(src), n, 100_000):
        b = min(a + 100_000, n)
        part = src[np.arange(a, b) % len(src)] + rng.normal(scale=0.02, size=(b - a, src.shape[1])).astype(np.float32)
        X[a:b] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return X


def run_stages(X: np.ndarray, mode: str) -> dict:
    """Stages 1+2 at a 5% budget; mode exact (one-at-a-time + N x N kNN) or approx (blocked +
    IVF kNN). Wall and CPU seconds (this process, all threads) per phase; peak RSS of the
    process before the recall check below adds its own buffers."""
    from allabel.core.config import apply_thread_limits
    from allabel.select.stages import diversity, farthest, similarity

    apply_thread_limits()
    n = len(X)
    m1, m2 = n // 100, 3 * n // 100
    load = os.getloadavg()[0]
    clock = {}

    def timed(name, fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        clock[name] = (time.perf_counter() - w, time.process_time() - c)
        return out

    picks1, _ = timed("stage1", lambda: (diversity.coreset if mode == "exact"
                                         else farthest.coreset_blocked)(X, m1))
    phases: dict[str, float] = {}
    if mode == "exact":
        neigh = timed("knn", lambda: similarity.knn_embedding(X, 10, method="exact"))
    else:
        from allabel.select.stages import knn

        neigh = timed("knn", lambda: knn.knn_approx(X, 10, phases=phases))

    def rank() -> list[int]:
        score = similarity.sum_of_ranks(neigh, n, 10)
        blocked = np.zeros(n, bool)
        blocked[picks1] = True
        return similarity.top_scored(score, m2, blocked)[0]

    picks2 = timed("rank", rank)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    sample = np.random.default_rng(1).choice(n, 1000, replace=False)
    return {"n": n, "mode": mode, "threads": int(os.environ.get("ALLABEL_THREADS", "1")),
            "clock": clock, "knn_phases_cpu": phases, "peak_rss_gb": round(peak, 2),
            "load_start": load, "load_end": os.getloadavg()[0],
            "recall_sample": sample_recall(X, neigh, sample),
            "picks1": picks1, "picks2": picks2, "neigh_sample": neigh[:: max(1, n // 2000)][:2000].tolist()}


def sample_recall(X: np.ndarray, neigh: np.ndarray, sample: np.ndarray) -> float:
    """Recall@10 of ``neigh`` on the sampled rows against exact products (50 rows at a time)."""
    import torch

    T = torch.from_numpy(X)
    hits = 0
    for a in range(0, len(sample), 50):
        q = torch.from_numpy(sample[a:a + 50])
        S = T[q] @ T.T
        S[torch.arange(len(q)), q] = -torch.inf
        truth = torch.topk(S, 10, dim=1).indices.numpy()
        hits += sum(len(set(neigh[i]) & set(t)) for i, t in zip(sample[a:a + 50], truth, strict=True))
    return hits / (10 * len(sample))


def child(args: argparse.Namespace) -> None:
    X = replicate(source_vectors(args.vectors), args.child_n)
    out = run_stages(X, args.child_mode)
    Path(args.child_out).write_text(json.dumps(out))


def stages(args: argparse.Namespace, sizes: list[int]) -> None:
    source_vectors(args.vectors)  # embed once, outside the timed children
    env = dict(os.environ, ALLABEL_THREADS=str(args.threads))
    for n in sizes:
        results = {}
        modes = ["approx"] if n > args.exact_up_to else ["exact", "approx"]
        for mode in modes:
            out = Path(f"/tmp/bench-scale-{os.getpid()}-{n}-{mode}.json")
            cmd = [sys.executable, __file__, "--child-n", str(n), "--child-mode", mode,
                   "--child-out", str(out)] + (["--vectors", str(args.vectors)] if args.vectors else [])
            subprocess.run(cmd, check=True, env=env)
            results[mode] = json.loads(out.read_text())
            out.unlink()
            r = results[mode]
            c = r["clock"]
            wall = sum(v[0] for v in c.values())
            cpu = sum(v[1] for v in c.values())
            print(f"stages 1+2 @ {n:>9,} ({mode:>6}, {r['threads']} thread(s)): total {wall:7.1f} s wall "
                  f"/ {cpu:7.1f} s CPU | stage 1 {c['stage1'][0]:.1f} s / {c['stage1'][1]:.1f} s CPU | "
                  f"kNN {c['knn'][0]:.1f} s / {c['knn'][1]:.1f} s CPU"
                  + (" (" + ", ".join(f"{k} {v:.1f}" for k, v in r["knn_phases_cpu"].items()) + " s CPU)"
                     if r["knn_phases_cpu"] else "")
                  + f" | rank {c['rank'][0]:.1f} s | peak RSS {r['peak_rss_gb']:.2f} GB | "
                  f"recall@10 (1,000 rows) {r['recall_sample']:.3f} | load average "
                  f"{r['load_start']:.1f} -> {r['load_end']:.1f}", flush=True)
        if len(results) == 2:
            e, a = results["exact"], results["approx"]
            rec = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a["neigh_sample"], e["neigh_sample"],
                                                                    strict=True)])
            same1 = e["picks1"] == a["picks1"]
            ov2 = len(set(e["picks2"]) & set(a["picks2"])) / max(1, len(e["picks2"]))
            ov = (len(set(e["picks1"] + e["picks2"]) & set(a["picks1"] + a["picks2"]))
                  / max(1, len(e["picks1"]) + len(e["picks2"])))
            print(f"   approx vs exact @ {n:,}: kNN recall@10 {rec:.3f} | stage 1 picks identical: "
                  f"{same1} | stage 2 overlap {ov2:.3f} | stages 1+2 overlap {ov:.3f}", flush=True)


def knn_libs(args: argparse.Namespace, n: int) -> None:
    """Build + query every sentence's 10 neighbours with each library; recall on 2,000 queries."""
    from allabel.core.config import apply_thread_limits

    apply_thread_limits()
    X = replicate(source_vectors(args.vectors), n)
    sample = np.random.default_rng(1).choice(n, 2000, replace=False)
    S = X[sample] @ X.T
    S[np.arange(len(sample)), sample] = -np.inf
    truth = np.argsort(-S, axis=1)[:, :10]
    del S

    def recall(found) -> float:
        return float(np.mean([len(set(found[i]) - {q}) and len((set(found[i]) - {q}) & set(truth[i])) / 10
                              for i, q in enumerate(sample)]))

    cpu0 = [time.process_time()]

    def report(name, build, query, found):
        cpu, cpu0[0] = time.process_time() - cpu0[0], time.process_time()
        print(f"kNN {name:<26} @ {n:,}: build {build:6.1f} s | all {n:,} queries {query:6.1f} s | "
              f"CPU {cpu:6.1f} s | recall@10 {recall(found):.3f}", flush=True)

    import faiss

    from allabel.select.stages import knn

    cpu0[0] = time.process_time()
    t = time.perf_counter()
    found = knn.knn_approx(X, 10)
    report(f"allabel IVF (nprobe {knn.NPROBE})", 0.0, time.perf_counter() - t, found[sample])
    faiss.omp_set_num_threads(1)
    for m, efc, efs in [(16, 80, 48), (16, 40, 32)]:
        cpu0[0] = time.process_time()
        t = time.perf_counter()
        ix = faiss.IndexHNSWFlat(X.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        ix.hnsw.efConstruction = efc
        ix.add(X)
        b = time.perf_counter() - t
        ix.hnsw.efSearch = efs
        t = time.perf_counter()
        _, found = ix.search(X, 11)
        report(f"faiss HNSW (M{m} efC{efc} ef{efs})", b, time.perf_counter() - t, found[sample])
        del ix
    cpu0[0] = time.process_time()
    try:
        from usearch.index import Index

        t = time.perf_counter()
        ux = Index(ndim=X.shape[1], metric="ip", connectivity=16, expansion_add=80, expansion_search=48)
        ux.add(np.arange(n), X, threads=1)
        b = time.perf_counter() - t
        t = time.perf_counter()
        found = ux.search(X, 11, threads=1).keys
        report("usearch HNSW (M16 ef48)", b, time.perf_counter() - t, np.asarray(found)[sample])
        del ux
    except ImportError:
        print("kNN usearch: not installed (pip install usearch to compare)")
    try:
        import hnswlib

        t = time.perf_counter()
        hx = hnswlib.Index(space="ip", dim=X.shape[1])
        hx.init_index(max_elements=n, ef_construction=80, M=16)
        hx.add_items(X, np.arange(n), num_threads=1)
        b = time.perf_counter() - t
        hx.set_ef(48)
        t = time.perf_counter()
        found, _ = hx.knn_query(X, k=11, num_threads=1)
        report("hnswlib (M16 ef48)", b, time.perf_counter() - t, found[sample])
        del hx
    except ImportError:
        print("kNN hnswlib: not installed (builds from source; pip install hnswlib to compare)")
    if not args.no_pgvector:
        cpu0[0] = time.process_time()  # the server's CPU is not counted here
        pgvector_knn(X, sample, truth, report)


def pgvector_knn(X, sample, truth, report) -> None:
    """pgvector's HNSW index (the one the database keeps): build, then one query per sentence
    (timed on the 2,000 sampled sentences and extrapolated to all)."""
    from pgvector import Vector

    from allabel.store import db
    from scripts.benchlib import scratch_database

    n = len(X)
    with scratch_database():
        conn = db.connect()
        conn.execute("CREATE TABLE v (id bigint PRIMARY KEY, e vector(384))")
        with conn.cursor() as cur, cur.copy("COPY v FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "vector"])
            for i, v in enumerate(X):
                copy.write_row((i, Vector(v)))
        conn.commit()
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 0")
        t = time.perf_counter()
        conn.execute("CREATE INDEX ON v USING hnsw (e vector_ip_ops) WITH (m = 16, ef_construction = 80)")
        conn.commit()
        b = time.perf_counter() - t
        conn.execute("SET hnsw.ef_search = 48")
        found = []
        t = time.perf_counter()
        for q in sample:
            found.append([r[0] for r in conn.execute(
                "SELECT id FROM v ORDER BY e <#> (SELECT e FROM v WHERE id = %s) LIMIT 11", (int(q),))])
        per = (time.perf_counter() - t) / len(sample)
        conn.close()
    report("pgvector HNSW (M16 ef48)", b, per * n, found)


def predict_new(args: argparse.Namespace, n: int, new: int = 1000) -> None:
    """n sentences of which n - new are already predicted in the run: `predict --new` must ask
    exactly `new` questions; the time spent outside the LLM calls is the claim overhead."""
    from allabel.core.config import get_settings
    from allabel.ingest import ingest_path
    from allabel.llm import get_backend
    from allabel.predict import DemoPool, Q, predict_split, prediction_run
    from allabel.store import db
    from scripts.benchlib import scratch_database
    from tests.fake_openai import FakeOpenAI

    with scratch_database(), FakeOpenAI() as fake:
        os.environ.update({"ALLABEL_LLM_BASE_URL": fake.url, "ALLABEL_LLM_MODEL": "fake",
                           "ALLABEL_LLM_CONCURRENCY": "8"})
        get_settings.cache_clear()
        ingest_path(DATA / "bc5cdr" / "train.tsv", "big", "train")
        conn = db.connect()
        ds = db.dataset_id(conn, "big")
        t = time.perf_counter()
        # setup shortcut: the pool's BM25 postings play no part in predict (demonstrations come
        # from the train split), so the bulk insert skips the triggers
        conn.execute("SET session_replication_role = replica")
        conn.execute("INSERT INTO sentences (dataset_id, split, position, text) "
                     "SELECT %s, 'pool', g, 'Sentence ' || g || ' reports toxicity of drug ' || (g %% 997) "
                     "FROM generate_series(0, %s - 1) g", (ds, n))
        conn.commit()
        print(f"(setup: {n:,} pool sentences inserted in {time.perf_counter() - t:.0f} s)", flush=True)
        pool = DemoPool.from_split(conn, ds, "train")
        run_id = prediction_run(conn, ds, "pool", pool, 4, get_backend())
        conn.execute("INSERT INTO predictions (run_id, sentence_id, status) SELECT %s, id, 'done' "
                     "FROM sentences WHERE dataset_id = %s AND split = 'pool' AND position < %s",
                     (run_id, ds, n - new))
        conn.execute("RESET session_replication_role")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE allabel.predictions")
        conn.execute("VACUUM ANALYZE allabel.sentences")
        conn.autocommit = False
        timings = {}
        for name, sql, params in [
            ("count_run_predictions", Q.count_run_predictions, {"run_id": run_id}),
            ("split_sentences_without_prediction", Q.split_sentences_without_prediction,
             {"dataset_id": ds, "split": "pool", "run_id": run_id, "limit": None, "new": False}),
        ]:
            t = time.perf_counter()
            rows = conn.execute(sql, params).fetchall()
            timings[name] = time.perf_counter() - t
        ids = [r[0] for r in rows]
        assert len(ids) == new, len(ids)
        t = time.perf_counter()
        conn.execute(Q.enqueue, {"run_id": run_id, "ids": ids})
        timings["enqueue"] = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute(Q.claim, {"run_id": run_id, "limit": 32}).fetchall()
        timings["one claim of 32"] = time.perf_counter() - t
        conn.rollback()
        conn.close()
        t = time.perf_counter()
        st = predict_split("big", "pool", "train", k=4, show_progress=False)
        total = time.perf_counter() - t
        print(f"predict --new @ {n:,} with {new:,} new: {len(fake.requests):,} LLM calls "
              f"(processed {st.processed:,}) in {total:.1f} s; queue queries: "
              + ", ".join(f"{k} {v:.3f} s" for k, v in timings.items())
              + f"; queue total for {new // 32 + 1} claims "
              f"{sum(timings.values()) + (new // 32) * timings['one claim of 32']:.2f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", help="comma-separated N for stages 1+2")
    ap.add_argument("--exact-up-to", type=int, default=60_000, help="also run exact up to this N")
    ap.add_argument("--threads", type=int, default=1, help="ALLABEL_THREADS for the stage runs")
    ap.add_argument("--knn-libs", type=int, help="compare kNN libraries at this N")
    ap.add_argument("--no-pgvector", action="store_true", help="--knn-libs without pgvector")
    ap.add_argument("--predict-new", type=int, help="predict --new with 1,000 new at this N")
    ap.add_argument("--vectors", type=Path, help="cache file for the bc5cdr embeddings (.npy)")
    ap.add_argument("--child-n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-mode", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_n:
        child(args)
        return
    if args.stages:
        stages(args, [int(x) for x in args.stages.split(",")])
    if args.knn_libs:
        knn_libs(args, args.knn_libs)
    if args.predict_new:
        predict_new(args, args.predict_new)


if __name__ == "__main__":
    main()
