#!/usr/bin/env python
"""`predict --new` at scale (issue 15): a split of N sentences of which all but 1,000 are already
finished by a prediction run; `allabel predict --new` (another configuration, so another run)
must ask the LLM exactly 1,000 times, and the time it spends outside the LLM (finding the new
sentences, enqueueing, claiming) must stay small and must not grow with N.

The split is ingested with `allabel ingest` (bench_ingest.py's synthetic corpus: the corpora's
sentences and perturbed copies, bench_foundation.py's 50k scheme). The first N - 1,000 are then
marked finished by ONE set-based INSERT of `done` predictions of a prediction run - a benchmark
shortcut (no LLM, no entities), not something allabel itself does; the last 1,000 are ingested
afterwards as a second file, as new text arrives. The LLM is a stub backend defined here (counts
calls, answers "no entities" at once), registered only in this process by replacing
``allabel.predict.jobs.get_backend``. CPU seconds of this process and of the Postgres server
are printed beside wall seconds (the machine may be shared).

With ``--bm25 Q``, the same database then serves the BM25 figure at this size: Q whole-sentence
queries, top-5 in SQL (``allabel.retrieval.bm25.search``) beside ``bm25s`` on the same lexemes, and how
many rankings are equal (bench_foundation.py's comparison).

    .venv/bin/python scripts/bench_predict_new.py [--n 1000000] [--new 1000] [--bm25 200]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.bench_ingest import server_cpu, synthetic_lines  # noqa: E402
from scripts.benchlib import DATA, scratch_database  # noqa: E402

# How --new found its sentences before the work list (allabel/sql/queries/predict.sql until sql/016): one
# pass over the split, each sentence checked against the finished predictions of prediction runs.
BEFORE = """
SELECT s.id FROM sentences s
WHERE s.dataset_id = %(dataset_id)s AND s.split = %(split)s
  AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = %(run_id)s AND p.sentence_id = s.id)
  AND NOT EXISTS (SELECT 1 FROM predictions q JOIN runs r ON r.id = q.run_id
                  WHERE q.sentence_id = s.id AND q.status = 'done' AND r.kind = 'prediction')
ORDER BY s.position
LIMIT %(limit)s"""


class StubBackend:
    """An instant LLM that finds no entities; counts the calls and when the first one came."""

    name = "local"
    model = "bench-stub"
    concurrency = 1

    def __init__(self) -> None:
        self.calls = 0
        self.first_call: float | None = None
        self.seconds = 0.0
        self._lock = threading.Lock()

    def complete(self, messages, max_tokens, temperature):
        from allabel.llm.base import Completion

        t = time.perf_counter()
        with self._lock:
            self.calls += 1
            if self.first_call is None:
                self.first_call = t
        out = Completion(text="[]", tokens=["[]"], token_logprobs=[-0.01], prompt_tokens=100,
                         completion_tokens=1)
        self.seconds += time.perf_counter() - t
        return out


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


class Meter:
    """Wall, this process's CPU and the server's CPU of a stretch of work."""

    def __init__(self, pm: psutil.Process) -> None:
        self.pm = pm
        self.t, self.c, self.s = time.perf_counter(), time.process_time(), server_cpu(pm)

    def __str__(self) -> str:
        return (f"{time.perf_counter() - self.t:.2f} s wall, CPU client "
                f"{time.process_time() - self.c:.2f} s + server {server_cpu(self.pm) - self.s:.2f} s, "
                f"{load()}")


class Timed:
    """Wraps a function: how many calls and their total/max wall seconds."""

    def __init__(self, fn) -> None:
        self.fn, self.n, self.total, self.max = fn, 0, 0.0, 0.0

    def __call__(self, *a, **kw):
        t = time.perf_counter()
        try:
            return self.fn(*a, **kw)
        finally:
            d = time.perf_counter() - t
            self.n, self.total, self.max = self.n + 1, self.total + d, max(self.max, d)

    def __str__(self) -> str:
        return f"{self.n} x, {self.total:.3f} s total, max {self.max * 1000:.1f} ms"


def bm25s_index(conn, dataset_id: int):
    """bench_foundation.py's bm25s index (the same lexemes and term frequencies), read in chunks
    so that a million sentences fit in memory."""
    import bm25s

    vocab: dict[str, int] = {}
    ids, docs = [], []
    with conn.cursor(name="bm25s_docs") as cur:
        cur.itersize = 20_000
        cur.execute(
            "SELECT s.id, coalesce(array_agg(u.lexeme) FILTER (WHERE u.lexeme IS NOT NULL), '{}'),"
            " coalesce(array_agg(coalesce(cardinality(u.positions),1)) FILTER (WHERE u.lexeme IS NOT NULL), '{}')"
            " FROM sentences s LEFT JOIN LATERAL unnest(s.tsv) u ON true WHERE s.dataset_id = %s"
            " GROUP BY s.id ORDER BY s.id", (dataset_id,))
        for sid, lexemes, counts in cur:
            ids.append(sid)
            docs.append([vocab.setdefault(lx, len(vocab))
                         for lx, c in zip(lexemes, counts, strict=True) for _ in range(c)])
    conn.commit()
    r = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    r.index(bm25s.tokenization.Tokenized(ids=docs, vocab=vocab), show_progress=False)
    return r, np.array(ids), vocab


def top5(scores: np.ndarray, ids: np.ndarray) -> list[tuple[int, float]]:
    """bm25s's top 5 ordered like ours: score descending, then sentence id; zero scores out."""
    k = min(5, len(scores) - 1)
    kth = np.partition(-scores, k)[k]
    cand = np.nonzero(-scores <= kth)[0]
    order = cand[np.lexsort((ids[cand], -scores[cand]))][:5]
    return [(int(ids[i]), float(scores[i])) for i in order if scores[i] > 0]


def _ties_aside(hits: list[tuple[int, float]]) -> list[tuple[float, int]]:
    """A ranking with tied scores (equal to 6 significant digits: duplicate sentences, whose
    float sums may differ in the last bits) put in id order, to compare up to their order."""
    return sorted((-float(f"{v:.6g}"), i) for i, v in hits)


def bench_bm25(conn, dataset_id: int, n_queries: int, label: str, pm: psutil.Process) -> None:
    from allabel.retrieval import bm25

    texts = [t for (t,) in conn.execute(
        "SELECT text FROM sentences WHERE dataset_id = %s ORDER BY id", (dataset_id,))]
    qs = random.Random(1).sample(texts, n_queries)
    del texts
    bm25.search(conn, dataset_id, qs[0])  # warm up
    m = Meter(pm)
    t = time.perf_counter()
    ours = [bm25.search(conn, dataset_id, q, k=5) for q in qs]
    ours_qps = n_queries / (time.perf_counter() - t)
    ours_cost = str(m)
    m = Meter(pm)
    r, ids, vocab = bm25s_index(conn, dataset_id)
    print(f"(bm25s index of {len(ids):,} sentences: {m})", flush=True)
    qtok = [[vocab[lx] for lx, c in conn.execute(
        "SELECT lexeme, coalesce(cardinality(positions),1) FROM unnest(bm25_lexemes(%s))",
        (q,)).fetchall() for _ in range(c) if lx in vocab] for q in qs]
    t = time.perf_counter()
    for qt in qtok:
        sc = r.get_scores(qt)
        top = np.argpartition(-sc, 5)[:5]
        top[np.argsort(-sc[top])]
    ref_qps = n_queries / (time.perf_counter() - t)
    equal = shown = tied = scores = 0
    for o, qt in zip(ours, qtok, strict=True):
        exp = top5(np.asarray(r.get_scores(qt), np.float64), ids)
        same = [x[0] for x in o] == [e[0] for e in exp] and np.allclose(
            [x[1] for x in o], [e[1] for e in exp], rtol=1e-5)
        equal += same
        tied += same or _ties_aside(o) == _ties_aside(exp)
        scores += same or [f"{v:.6g}" for _, v in o] == [f"{v:.6g}" for _, v in exp]
        if not same and shown < 3:
            shown += 1
            print(f"  differs: ours {[(i, round(float(v), 6)) for i, v in o]}\n"
                  f"           bm25s {[(i, round(v, 6)) for i, v in exp]}", flush=True)
    print(f"BM25 top-5 @ {label} sentences: ours {ours_qps:7.1f} q/s | bm25s {ref_qps:7.1f} q/s "
          f"| equal results {equal}/{n_queries}, equal up to the order of tied scores {tied}/{n_queries}, "
          f"same top-5 scores (ties filled by other sentences) {scores}/{n_queries} "
          f"(ours: {ours_cost})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000, help="sentences in the predicted split")
    ap.add_argument("--new", type=int, default=1000, help="of which new (not yet predicted)")
    ap.add_argument("--bm25", type=int, default=0, help="then this many BM25 queries at this size")
    ap.add_argument("--explain", action="store_true", help="print the plans of the queue queries")
    args = ap.parse_args()
    from allabel.core.config import apply_thread_limits

    apply_thread_limits()
    stub = StubBackend()
    import allabel.predict.jobs as predict_jobs
    import allabel.predict.step as predict_step

    predict_jobs.get_backend = lambda *a, **kw: stub  # the stub, in this process only
    claims = predict_step.claim = Timed(predict_step.claim)  # BatchStep looks it up here
    finds = predict_jobs.prepare_run = Timed(predict_jobs.prepare_run)
    from allabel.retrieval import bm25

    demo_index = bm25.PoolIndex = Timed(bm25.PoolIndex)  # the demonstrations' BM25, built once
    wall0 = time.perf_counter()
    with scratch_database() as url:
        from allabel.ingest import ingest_path
        from allabel.predict import DemoPool, Q, predict_split, prediction_run
        from allabel.store import db

        pm = _postmaster()
        tmp = Path(f"/tmp/allabel-bench-predict-{os.getpid()}")
        tmp.mkdir()
        try:
            lines = synthetic_lines(args.n)
            old, new = lines[:args.n - args.new], lines[args.n - args.new:]
            new = [f"{t} (new {i})" for i, t in enumerate(new)]  # unique: no cache hits
            (tmp / "old.txt").write_text("\n".join(old) + "\n")
            (tmp / "new.txt").write_text("\n".join(new) + "\n")
            del lines, old
            ingest_path(DATA / "bc5cdr" / "train.tsv", "big", "train", url=url)
            m = Meter(pm)
            r = ingest_path(tmp / "old.txt", "big", "pool", url=url)
            print(f"(setup: ingested {r.sentences:,} pool sentences = {r.sentences / r.seconds:,.0f}/s: "
                  f"{m})", flush=True)
            with db.connect(url) as conn:
                ds = db.dataset_id(conn, "big")
                # the ingest's work-list step alone, on the sentences just written (rolled back)
                files, lo, hi = conn.execute(
                    "SELECT array_agg(DISTINCT source_file_id), min(id), max(id) FROM sentences "
                    "WHERE dataset_id = %s AND split = 'pool'", (ds,)).fetchone()
                conn.execute("DELETE FROM predict_worklist WHERE dataset_id = %s AND split = 'pool'", (ds,))
                m = Meter(pm)
                added = conn.execute("SELECT predict_worklist_add_sentences(%s, %s, %s, %s)",
                                     (ds, files, lo, hi)).fetchone()[0]
                print(f"(the ingest's work-list step alone, {added:,} sentences: {m})", flush=True)
                conn.rollback()
                pool = DemoPool.resolve(conn, ds, "train")
                done_run = prediction_run(conn, ds, "pool", pool, 4, stub)
                m = Meter(pm)
                n_done = conn.execute(
                    "INSERT INTO predictions (run_id, sentence_id, status) SELECT %s, id, 'done' "
                    "FROM sentences WHERE dataset_id = %s AND split = 'pool'", (done_run, ds)).rowcount
                conn.commit()
                print(f"(setup: {n_done:,} finished predictions inserted set-based, the work list "
                      f"emptied by its trigger - the benchmark's shortcut: {m})", flush=True)
                conn.autocommit = True
                conn.execute("VACUUM ANALYZE allabel.predictions")
                conn.execute("VACUUM ANALYZE allabel.sentences")
                conn.execute("VACUUM ANALYZE allabel.predict_worklist")
            m = Meter(pm)
            r = ingest_path(tmp / "new.txt", "big", "pool", url=url)
            print(f"(new text: ingested {r.sentences:,} sentences: {m})", flush=True)

            # the queue queries on this state, each timed alone (rolled back afterwards)
            timings = {}
            with db.connect(url) as conn:
                run_id = prediction_run(conn, ds, "pool", pool, 2, stub)  # another configuration
                conn.commit()
                for name, sql in [("new_sentences_without_prediction (--new, work list)",
                                   Q.new_sentences_without_prediction),
                                  ("split_sentences_without_prediction (without --new, the split)",
                                   Q.split_sentences_without_prediction),
                                  ("the anti-join --new used before the work list", BEFORE)]:
                    t = time.perf_counter()
                    rows = conn.execute(sql, {"dataset_id": ds, "split": "pool", "run_id": run_id,
                                              "limit": None}).fetchall()
                    timings[name] = (time.perf_counter() - t, len(rows))
                ids = [row[0] for row in conn.execute(Q.new_sentences_without_prediction, {
                    "dataset_id": ds, "split": "pool", "run_id": run_id, "limit": None})]
                t = time.perf_counter()
                conn.execute(Q.enqueue, {"run_id": run_id, "ids": ids})
                timings["enqueue"] = (time.perf_counter() - t, len(ids))
                t = time.perf_counter()
                claimed = conn.execute(Q.claim, {"run_id": run_id, "limit": 4}).fetchall()
                timings["claim (one batch)"] = (time.perf_counter() - t, len(claimed))
                if args.explain:
                    for sql, params in [(Q.new_sentences_without_prediction, {
                            "dataset_id": ds, "split": "pool", "run_id": run_id, "limit": None}),
                            (Q.claim, {"run_id": run_id, "limit": 4})]:
                        plan = conn.execute(b"EXPLAIN (ANALYZE, BUFFERS) " + sql.encode(), params)
                        print("\n".join(r[0] for r in plan), flush=True)
                conn.rollback()
            print(f"queue queries at {args.n:,}, each alone: " + "; ".join(
                f"{k} {v * 1000:.1f} ms ({n:,} rows)" for k, (v, n) in timings.items()), flush=True)

            m = Meter(pm)
            t0 = time.perf_counter()
            st = predict_split("big", "pool", "train", k=2, show_progress=False, url=url, new=True)
            total = time.perf_counter() - t0
            first = (stub.first_call - t0) if stub.first_call else float("nan")
            print(f"predict --new @ {args.n:,} sentences, {args.new:,} new: {stub.calls:,} LLM calls "
                  f"(processed {st.processed:,}, expected exactly {args.new:,}); {m}", flush=True)
            print(f"  start to first LLM call {first:.2f} s (of it, opening the run + finding and "
                  f"enqueueing the new sentences: {finds.total:.3f} s; the demonstrations' BM25 index: "
                  f"{demo_index.total:.3f} s); claims: {claims}; outside the "
                  f"LLM per sentence {(total - stub.seconds) / max(1, stub.calls) * 1000:.1f} ms",
                  flush=True)
            before, finds.n, finds.total, claims.n, claims.total = stub.calls, 0, 0.0, 0, 0.0
            m = Meter(pm)
            predict_split("big", "pool", "train", k=2, show_progress=False, url=url, new=True)
            print(f"predict --new again (nothing new): {stub.calls - before} more calls; finding "
                  f"{finds.total:.3f} s; {m}", flush=True)
            if args.bm25:
                with db.connect(url) as conn:
                    n_ds = conn.execute("SELECT count(*) FROM sentences WHERE dataset_id = %s",
                                        (ds,)).fetchone()[0]
                    bench_bm25(conn, ds, args.bm25, f"{n_ds:,}", pm)
        finally:
            for f in tmp.glob("*"):
                f.unlink()
            tmp.rmdir()
    print(f"(whole benchmark: {time.perf_counter() - wall0:.0f} s wall)", flush=True)


def _postmaster() -> psutil.Process:
    """The scratch server's postmaster: the parent of this session's backend."""
    from allabel.store import db

    with db.connect() as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        return psutil.Process(pid).parent()  # while the backend lives


if __name__ == "__main__":
    main()
