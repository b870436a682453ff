#!/usr/bin/env python
"""Ingest benchmark (issue 15): sentences/s for all of data/ (what bench_foundation.py measures),
with the CPU seconds of the client and of the Postgres server processes beside the wall time (on
a shared machine the CPU figures are the ones that compare across runs), optionally a cProfile of
the client and a large synthetic file.

    .venv/bin/python scripts/bench_ingest.py [--repeat 3] [--profile] [--synthetic 1000000]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.benchlib import DATA, scratch_database  # noqa: E402


def server_cpu(postmaster: psutil.Process) -> float:
    """CPU seconds (user + system) of the server: the postmaster and all its children (backends,
    WAL writer, checkpointer, ...). Ended backends count through the children-times fields."""
    total = 0.0
    for p in [postmaster, *postmaster.children()]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
            if p is postmaster:
                total += t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def synthetic_lines(n: int, seed: int = 0) -> list[str]:
    """bench_foundation.py's 50k corpus scheme: the corpora's sentences, then perturbed copies
    (one token dropped, one corpus word appended) up to n."""
    from allabel.formats.corpus import parse_file

    base = [s.text for d in sorted(p for p in DATA.iterdir() if p.is_dir())
            for f in sorted(d.glob("*.tsv")) for s in parse_file(f, "conll")]
    rng = random.Random(seed)
    words = [w for t in base[:2000] for w in t.split()]
    out = list(base[:n])
    while len(out) < n:
        toks = rng.choice(base).split()
        if len(toks) > 3:
            del toks[rng.randrange(len(toks))]
        toks.append(rng.choice(words))
        out.append(" ".join(toks))
    return out


def timed(label: str, fn, pm: psutil.Process) -> float:
    c0, s0, t0 = time.process_time(), server_cpu(pm), time.perf_counter()
    n = fn()
    wall = time.perf_counter() - t0
    client, server = time.process_time() - c0, server_cpu(pm) - s0
    print(f"{label}: {n:,} sentences in {wall:.2f} s wall = {n / wall:,.0f} sentences/s | CPU client "
          f"{client:.2f} s + server {server:.2f} s = {n / (client + server):,.0f} sentences per CPU "
          f"second | load {os.getloadavg()[0]:.2f}", flush=True)
    # the client parses while the server writes (allabel.ingest.stream): on two idle cores the
    # wall time cannot be below the busier side's CPU time, nor far above it when they overlap
    print(f"  two idle cores, client and server overlapped: wall >= max(client, server) = "
          f"{max(client, server):.2f} s, i.e. at most {n / max(client, server):,.0f} sentences/s; "
          f"without overlap (client + server) {n / (client + server):,.0f}/s", flush=True)
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1, help="ingest data/ this many times (new datasets)")
    ap.add_argument("--profile", action="store_true", help="cProfile the client of the first ingest")
    ap.add_argument("--synthetic", type=int, help="also ingest one plain-text file of N sentences")
    args = ap.parse_args()
    from allabel.core.config import apply_thread_limits

    apply_thread_limits()
    with scratch_database() as url:
        from allabel.ingest import ingest_path
        from allabel.store import db

        with db.connect(url) as conn:
            pm = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0]).parent()
        corpora = sorted(p for p in DATA.iterdir() if p.is_dir())
        for r in range(args.repeat):
            def run(r: int = r) -> int:
                return sum(ingest_path(c, f"{c.name}-{r}", url=url).sentences for c in corpora)
            if args.profile and r == 0:
                prof = cProfile.Profile()
                prof.enable()
                timed(f"ingest data/ #{r + 1} (profiled)", run, pm)
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            else:
                timed(f"ingest data/ #{r + 1}", run, pm)
        if args.synthetic:
            f = Path(f"/tmp/allabel-synthetic-{os.getpid()}.txt")
            f.write_text("\n".join(synthetic_lines(args.synthetic)) + "\n")
            try:
                timed(f"ingest {args.synthetic:,} synthetic sentences (one text file)",
                      lambda: ingest_path(f, "synthetic", "x", url=url).sentences, pm)
            finally:
                f.unlink()


if __name__ == "__main__":
    main()
