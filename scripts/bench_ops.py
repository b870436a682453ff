#!/usr/bin/env python
"""Operations benchmark (issue 6): `predict --new` on 10,000 sentences of which 100 are new
(LLM calls and time; target exactly 100 calls), and throughput with --workers 1, 2, 4 against a
local OpenAI-compatible server with a fixed delay.

    .venv/bin/python scripts/bench_ops.py [--delay 0.2] [--n 10000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.benchlib import DATA, scratch_database  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--workers-n", type=int, default=160)
    args = ap.parse_args()
    from allabel.core.config import get_settings
    from allabel.ingest import ingest_path
    from allabel.predict import predict_split
    from allabel.store import db
    from tests.fake_openai import FakeOpenAI

    with scratch_database(), FakeOpenAI() as srv:
        os.environ.update({"ALLABEL_LLM_BASE_URL": srv.url, "ALLABEL_LLM_MODEL": "fake",
                           "ALLABEL_LLM_CONCURRENCY": "16"})
        get_settings.cache_clear()
        ingest_path(DATA / "bc5cdr" / "train.tsv", "bc", "train")
        # bc5cdr devel + test hold 9,380 sentences; NCBI-disease (Disease only) fills up to --n.
        files = [DATA / "bc5cdr" / "devel.tsv", DATA / "bc5cdr" / "test.tsv", DATA / "ncbi-disease" / "train.tsv"]
        blocks = [b for f in files for b in f.read_text().split("\n\n") if b.strip()]
        if len(blocks) < args.n:
            raise SystemExit(f"only {len(blocks)} sentences available for --n {args.n}")
        tmp = Path(os.environ["DATABASE_URL"].split("host=")[1]).parent
        (tmp / "pool1.tsv").write_text("\n\n".join(blocks[: args.n - 100]) + "\n")
        (tmp / "pool2.tsv").write_text("\n\n".join(blocks[args.n - 100: args.n]) + "\n")
        ingest_path(tmp / "pool1.tsv", "bc", "pool")
        t = time.perf_counter()
        st = predict_split("bc", "pool", "train", k=2, show_progress=False)
        print(f"initial predict: {st.processed:,} sentences, {st.calls:,} calls in {time.perf_counter() - t:.1f} s")
        ingest_path(tmp / "pool2.tsv", "bc", "pool")
        n_before = len(srv.requests)
        t = time.perf_counter()
        st = predict_split("bc", "pool", "train", k=2, show_progress=False)
        secs = time.perf_counter() - t
        with db.connection() as conn:
            total = conn.execute("SELECT count(*) FROM sentences WHERE split = 'pool'").fetchone()[0]
        print(f"predict --new on {total:,} sentences of which 100 are new: {st.calls} LLM calls "
              f"({len(srv.requests) - n_before} requests reached the server), {secs:.2f} s (target: 100 calls)")
        t = time.perf_counter()
        st = predict_split("bc", "pool", "train", k=2, show_progress=False)
        print(f"predict --new with nothing new: {st.calls} calls, {time.perf_counter() - t:.2f} s")

        srv.delay = args.delay
        os.environ["ALLABEL_LLM_CONCURRENCY"] = "4"
        base = None
        for workers in (1, 2, 4):
            os.environ["ALLABEL_LLM_MODEL"] = f"fake-w{workers}"  # new config: a fresh run, no cache
            get_settings.cache_clear()
            t = time.perf_counter()
            st = predict_split("bc", "pool", "train", k=2, limit=args.workers_n, workers=workers,
                               show_progress=False)
            secs = time.perf_counter() - t
            rps = st.processed / secs
            base = base or rps
            print(f"--workers {workers} (4 requests in flight each, server delay {args.delay:.2f} s): "
                  f"{st.processed} sentences in {secs:.1f} s = {rps:.1f}/s, speed-up {rps / base:.2f}x")


if __name__ == "__main__":
    main()
