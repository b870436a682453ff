#!/usr/bin/env python
"""`predict --new` at scale (issue 15): a split of N sentences of which all but 1,000 are already
predicted in the run; `allabel predict` must ask the LLM exactly 1,000 times, and the time it
spends outside the LLM (finding the new sentences, enqueueing, claiming) must stay small.

The split is ingested with `allabel ingest` (bench_ingest.py's synthetic corpus: the corpora's
sentences and perturbed copies). The first N - 1,000 are then marked predicted by ONE set-based
INSERT of finished `predictions` rows - a benchmark shortcut (no LLM, no entities), not something
allabel itself ever does; the last 1,000 are ingested afterwards as a second file, as new text
arrives. The LLM is a stub backend defined here (counts calls, answers "no entities" at once),
registered only in this process by replacing ``allabel.predict.jobs.get_backend``.

    .venv/bin/python scripts/bench_predict_new.py [--n 1000000] [--new 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.bench_ingest import synthetic_lines  # noqa: E402
from scripts.benchlib import DATA, scratch_database  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000, help="sentences in the predicted split")
    ap.add_argument("--new", type=int, default=1000, help="of which new (not yet predicted)")
    args = ap.parse_args()
    from allabel.config import apply_thread_limits

    apply_thread_limits()
    stub = StubBackend()
    import allabel.predict.jobs as predict_jobs

    predict_jobs.get_backend = lambda *a, **kw: stub  # the stub, in this process only
    with scratch_database() as url:
        from allabel import db
        from allabel.ingest import ingest_path
        from allabel.predict import DemoPool, predict_split, prediction_run

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
            r = ingest_path(tmp / "old.txt", "big", "pool", url=url)
            print(f"(setup: ingested {r.sentences:,} pool sentences in {r.seconds:.0f} s = "
                  f"{r.sentences / r.seconds:,.0f}/s, {load()})", flush=True)
            with db.connect(url) as conn:
                ds = db.dataset_id(conn, "big")
                pool = DemoPool.resolve(conn, ds, "train")
                run_id = prediction_run(conn, ds, "pool", pool, 4, stub)
                t = time.perf_counter()
                n_done = conn.execute(
                    "INSERT INTO predictions (run_id, sentence_id, status) SELECT %s, id, 'done' "
                    "FROM sentences WHERE dataset_id = %s AND split = 'pool'", (run_id, ds)).rowcount
                conn.commit()
                print(f"(setup: {n_done:,} finished predictions inserted set-based in "
                      f"{time.perf_counter() - t:.0f} s - the benchmark's shortcut)", flush=True)
                conn.autocommit = True
                conn.execute("VACUUM ANALYZE allabel.predictions")
                conn.execute("VACUUM ANALYZE allabel.sentences")
            r = ingest_path(tmp / "new.txt", "big", "pool", url=url)
            print(f"(new text: ingested {r.sentences:,} sentences in {r.seconds:.1f} s)", flush=True)

            # the queue queries on this state, each timed alone (rolled back afterwards)
            from allabel.predict import Q

            timings = {}
            with db.connect(url) as conn:
                for name, sql, params in [
                    ("count_run_predictions", Q.count_run_predictions, {"run_id": run_id}),
                    ("split_sentences_without_prediction", Q.split_sentences_without_prediction,
                     {"dataset_id": ds, "split": "pool", "run_id": run_id, "limit": None}),
                ]:
                    t = time.perf_counter()
                    rows = conn.execute(sql, params).fetchall()
                    timings[name] = time.perf_counter() - t
                ids = [row[0] for row in rows]
                t = time.perf_counter()
                conn.execute(Q.enqueue, {"run_id": run_id, "ids": ids})
                timings["enqueue"] = time.perf_counter() - t
                t = time.perf_counter()
                claimed = conn.execute(Q.claim, {"run_id": run_id, "limit": 4}).fetchall()
                timings["claim (one batch)"] = time.perf_counter() - t
                conn.rollback()
            print(f"queue queries at {args.n:,} ({len(ids):,} new found, {len(claimed)} claimed): "
                  + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in timings.items()), flush=True)

            t0 = time.perf_counter()
            st = predict_split("big", "pool", "train", k=4, show_progress=False, url=url)
            total = time.perf_counter() - t0
            first = (stub.first_call - t0) if stub.first_call else float("nan")
            print(f"predict --new @ {args.n:,} sentences, {args.new:,} new: {stub.calls:,} LLM calls "
                  f"(processed {st.processed:,}, expected exactly {args.new:,}) in {total:.1f} s; "
                  f"start to first LLM call {first:.2f} s; per sentence outside the LLM "
                  f"{(total - stub.seconds) / max(1, stub.calls) * 1000:.1f} ms ({load()})", flush=True)
            t0 = time.perf_counter()
            st = predict_split("big", "pool", "train", k=4, show_progress=False, url=url)
            print(f"predict --new again (nothing new): {stub.calls - args.new} more calls, "
                  f"{time.perf_counter() - t0:.2f} s", flush=True)
        finally:
            for f in tmp.glob("*"):
                f.unlink()
            tmp.rmdir()


if __name__ == "__main__":
    main()
