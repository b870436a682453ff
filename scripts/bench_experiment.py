#!/usr/bin/env python
"""The experiment grid end to end on a fresh embedded database (issue 11's "≤ 90 minutes"
measure): ingest one corpus from data/, embed its pool split, then `allabel experiment` over
budgets x strategies x seeds, each step timed as the user would run it (the CLI, in
subprocesses). Nothing is cached from earlier runs: the database, its prompt/answer cache and its
selections are new; only the converted model under ALLABEL_MODEL_CACHE is reused, as on any
machine after its first run (the conversion is timed by scripts/bench_llm.py).

    .venv/bin/python scripts/bench_experiment.py [--dataset bc5cdr] [--budgets 1%,5%,10%] \\
        [--strategies allabel,random,coreset,full] [--seeds 3] [--test-sample 300] [--k 4] \\
        [--workers 2] [--out DIR]

Prints the time of each step, the experiment's own tables (F1 with 95% intervals) and the load
average, so a figure measured on a busy machine reads as such.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.benchlib import DATA, scratch_database  # noqa: E402


def step(name: str, args: list[str], log: Path) -> float:
    """Run one `allabel` command; its output goes to ``log`` (progress bars included), a failure
    stops the benchmark with the command's own error."""
    t = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n$ allabel {' '.join(args)}\n")
        out.flush()
        done = subprocess.run([sys.executable, "-m", "allabel.cli", *args], stdout=out,
                              stderr=subprocess.STDOUT)
    secs = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(f"{name} failed (exit {done.returncode}); see {log}")
    print(f"{name:<11} {secs:8.1f} s  (load average {os.getloadavg()[0]:.2f})", flush=True)
    return secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="bc5cdr")
    ap.add_argument("--budgets", default="1%,5%,10%")
    ap.add_argument("--strategies", default="allabel,random,coreset,full")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--test-sample", type=int, default=300)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None,
                    help="Where the report and the commands' log go (default: a new folder under /tmp).")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="allabel-bench-experiment-", dir="/tmp"))
    out.mkdir(parents=True, exist_ok=True)
    log = out / "commands.log"
    print(f"{args.dataset}: budgets {args.budgets} x strategies {args.strategies} x {args.seeds} seeds, "
          f"{args.test_sample} test sentences, k = {args.k}, {args.workers} workers; log: {log}",
          flush=True)
    with scratch_database():
        total = step("ingest", ["ingest", str(DATA / args.dataset), "--dataset", args.dataset], log)
        total += step("embed", ["embed", "--dataset", args.dataset, "--split", "train",
                                "--workers", str(args.workers)], log)
        total += step("experiment", [
            "experiment", "--dataset", args.dataset, "--budgets", args.budgets,
            "--strategies", args.strategies, "--seeds", str(args.seeds),
            "--test-sample", str(args.test_sample), "--k", str(args.k), "--pool-splits", "train",
            "--workers", str(args.workers), "--out", str(out)], log)
    print(f"{'end to end':<11} {total:8.1f} s = {total / 60:.1f} min (target ≤ 90 min)")
    report = out / "report.md"
    if report.exists():
        print(f"\nreport: {report}\n")
        text = report.read_text()
        start = text.find("## F1 and the difference to random")
        print(text[start:text.find("## Cost and spread")] if start >= 0 else text)


if __name__ == "__main__":
    main()
