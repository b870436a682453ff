"""The README's main command: a small, complete experiment on bc5cdr on the embedded defaults.

Steps (each idempotent, so a second run reuses everything): schema, ingest bc5cdr, embed the
train split (the selection pool), and an experiment with the bundled local model comparing
ALLabel with random and core-set selection and with "full" (the whole pool annotated), then the
report. Sizes are chosen to finish in about 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

from allabel.core.errors import ConfigError
from allabel.experiments.corpora import corpus
from allabel.experiments.experiment import ExperimentParams, run_experiment
from allabel.experiments.report import write_report
from allabel.ingest import ingest_path
from allabel.retrieval.embed import embed_dataset
from allabel.store import db, migrate

DEMO = ExperimentParams(
    dataset="bc5cdr",
    budgets=["0.5%", "2%"],
    strategies=["allabel+long", "random", "coreset", "full"],
    seeds=1,
    test_sample=20,
    k=2,
    uncertainty_candidates="20",
    pool_splits=["train"],
)



def reads_vectors(strategy: str) -> bool:
    """Does a stage of ``strategy`` read sentence vectors (diversity, embedding similarity)?"""
    from allabel.select import stages
    from allabel.select.strategies import canonical, make_strategy
    from allabel.select.variants import split_variant

    names = make_strategy(split_variant(canonical(strategy))[0]).stage_names()
    return any(stages.get(n).reads_vectors for n in names)


def say(msg: str) -> None:
    print(f"[demo] {msg}", file=sys.stderr, flush=True)


def demo_corpus(data: Path | None) -> Path:
    """The bc5cdr folder to ingest: ``--data`` (the corpus folder itself or a folder holding
    ``bc5cdr/``), else the bundled corpus (``ALLABEL_DATA`` or the checkout's ``data/``)."""
    if data is None:
        return corpus("bc5cdr")
    if (data / "bc5cdr").is_dir():
        return data / "bc5cdr"
    if not data.exists():
        raise ConfigError(f"--data {data}: no such file or folder")
    return data


def run_demo(data: Path | None = None, params: ExperimentParams = DEMO) -> str:
    data = demo_corpus(data)
    url = db.database_url()
    say(f"database: {db.redact(url)}")
    migrate.upgrade(url)
    say(f"ingest {data}")
    r = ingest_path(data, params.dataset)
    say(f"  {r.sentences} new sentences ({len(r.skipped)} files already ingested)")
    if any(reads_vectors(s) for s in params.strategies):
        say("embed the selection pool (train split)")
        st = embed_dataset(params.dataset, splits=params.pool_splits)
        say(f"  {st.embedded} sentences embedded")
    else:
        say("no strategy here needs embeddings: the pool is not embedded")
    say(f"experiment: strategies {', '.join(params.strategies)}; budgets {', '.join(params.budgets)}; "
        f"{params.test_sample} test sentences; k = {params.k}")
    exp_id = run_experiment(params, url)
    out, table = write_report(str(exp_id))
    print(table)
    print(f"report: {out / 'report.md'} (and report.html, f1.png)")
    return table
