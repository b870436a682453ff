"""The README's main command: a small, complete experiment on bc5cdr on the embedded defaults.

Steps (each idempotent, so a second run reuses everything): schema, ingest bc5cdr, embed the
train split (the selection pool), and an experiment with the bundled local model comparing
ALLabel with random and core-set selection and with "full" (the whole pool annotated), then the
report. Sizes are chosen to finish in about 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

from allabel import db, migrate
from allabel.embed import embed_dataset
from allabel.experiment import ExperimentParams, run_experiment
from allabel.ingest import ingest_path
from allabel.report import write_report

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "bc5cdr"

DEMO = ExperimentParams(
    dataset="bc5cdr",
    budgets=["0.5%", "2%"],
    strategies=["allabel", "random", "coreset", "full"],
    seeds=1,
    test_sample=20,
    k=2,
    uncertainty_candidates="20",
    pool_splits=["train"],
)


def say(msg: str) -> None:
    print(f"[demo] {msg}", file=sys.stderr, flush=True)


def run_demo(data: Path = DEFAULT_DATA, params: ExperimentParams = DEMO) -> str:
    url = db.database_url()
    say(f"database: {db.redact(url)}")
    migrate.upgrade(url)
    say(f"ingest {data}")
    r = ingest_path(data, params.dataset)
    say(f"  {r.sentences} new sentences ({len(r.skipped)} files already ingested)")
    say("embed the selection pool (train split)")
    st = embed_dataset(params.dataset, splits=params.pool_splits)
    say(f"  {st.embedded} sentences embedded")
    say(f"experiment: strategies {', '.join(params.strategies)}; budgets {', '.join(params.budgets)}; "
        f"{params.test_sample} test sentences; k = {params.k}")
    exp_id = run_experiment(params, url)
    out, table = write_report(str(exp_id))
    print(table)
    print(f"report: {out / 'report.md'} (and report.html, f1.png)")
    return table
