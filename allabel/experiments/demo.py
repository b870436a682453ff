"""The README's first command: the main job of allabel, end to end, in a few minutes.

``allabel demo`` runs what a team does with its own corpus, on a slice of BC5CDR (the repository's
``data/bc5cdr``): ingest a pool and a test sample, embed the pool, select the sentences worth
annotating with the default strategy (``allabel+long``), annotate them — with the corpus's gold
annotations standing in for a person, and it says so — predict entities in test sentences with the
bundled local LLM using the annotated picks as demonstrations, then show a few labelled sentences
and the entity counts of the BI view ``bi.label_counts``. Every step is the library's own (the
same functions the commands call) and idempotent: a second run reuses everything.

Why a slice: embedding all of bc5cdr's train split costs about a minute on two cores and the demo
must fit in four minutes after setup; the slice (``POOL`` sentences) keeps embedding to seconds
and the selection's LLM calls to a few dozen. Whether ALLabel beats random is not something a
demo this size can show (20 test sentences give intervals of about ±0.2 F1): the demo points to
docs/results.md, and ``allabel demo --experiment`` runs the comparison grid with enough test
sentences to mean something, printing its expected run time first.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from allabel.annotate.exporter import export_entities
from allabel.annotate.importer import import_file
from allabel.core.config import get_settings
from allabel.core.errors import ConfigError
from allabel.experiments.corpora import corpus
from allabel.experiments.estimate import estimate_experiment
from allabel.experiments.evaluate import evaluate_run
from allabel.experiments.experiment import ExperimentParams, run_experiment
from allabel.experiments.report import write_report
from allabel.ingest import ingest_path
from allabel.predict import predict_split
from allabel.retrieval.embed import embed_dataset
from allabel.select import stages
from allabel.select.params import SelectParams
from allabel.select.run import resume as resume_selection
from allabel.select.run import select
from allabel.select.strategies import canonical, make_strategy
from allabel.select.variants import split_variant
from allabel.store import db, migrate
from allabel.store.sqlfiles import queries

Q = queries("demo")
DATASET = "bc5cdr-demo"
ANNOTATOR = "gold (the demo's stand-in for a person)"


@dataclass
class DemoParams:
    pool: int = 1000          # first sentences of bc5cdr's train split: the selection pool
    test: int = 200           # first sentences of its test split: where the LLM labels
    budget: str = "20"        # sentences to annotate
    test_sample: int = 20     # test sentences the LLM labels in the demo
    k: int = 2                # demonstrations per prompt
    uncertainty_candidates: str = "5x"  # stage 3 asks the LLM about 5x its picks


DEMO = DemoParams()

# `allabel demo --experiment`: the default against random at 5% of bc5cdr's train split, three
# seeds, 300 test sentences (about ±0.04 F1 on a difference; docs/results.md used 900).
EXPERIMENT = ExperimentParams(
    dataset="bc5cdr",
    budgets=["5%"],
    strategies=["allabel+long", "random"],
    seeds=3,
    test_sample=300,
    k=2,
    uncertainty_candidates="20",
    pool_splits=["train"],
)


def reads_vectors(strategy: str) -> bool:
    """Does a stage of ``strategy`` read sentence vectors (diversity, embedding similarity)?"""

    names = make_strategy(split_variant(canonical(strategy))[0]).stage_names()
    return any(stages.get(n).reads_vectors for n in names)


def say(msg: str) -> None:
    print(f"[demo] {msg}", file=sys.stderr, flush=True)


class Clock:
    """Seconds since the last ``lap``: every step of the demo says what it cost."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def lap(self) -> str:
        now = time.monotonic()
        spent, self.last = now - self.last, now
        return f"{spent:.0f} s"


def demo_corpus(data: Path | None) -> Path:
    """The bc5cdr folder to read: ``--data`` (the corpus folder itself or a folder holding
    ``bc5cdr/``), else the bundled corpus (``ALLABEL_DATA`` or the checkout's ``data/``)."""
    if data is None:
        return corpus("bc5cdr")
    if (data / "bc5cdr").is_dir():
        return data / "bc5cdr"
    if not data.exists():
        raise ConfigError(f"--data {data}: no such file or folder")
    return data


def first_sentences(src: Path, n: int, dest: Path) -> int:
    """Write the first ``n`` sentences (blank-line separated blocks) of a CoNLL file to ``dest``
    (the same bytes every time, so a second ingest of it is skipped); returns how many."""
    blocks: list[str] = []
    current: list[str] = []
    with src.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                current.append(line if line.endswith("\n") else line + "\n")
                continue
            if current:
                blocks.append("".join(current))
                current = []
                if len(blocks) >= n:
                    break
    if current and len(blocks) < n:
        blocks.append("".join(current))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("\n".join(blocks), encoding="utf-8")
    return len(blocks)


def annotate_with_gold(run_id: int, folder: Path) -> int:
    """Annotate the run's picks the way a person would hand them back (``allabel import`` of a
    file), the file made of the corpus's gold entities. Returns sentences written."""
    path = folder / f"annotations-run-{run_id}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        export_entities("gold", "jsonl", out, run_id=run_id)
    return import_file(path, run_id, annotator=ANNOTATOR).written


def run_demo(data: Path | None = None, params: DemoParams = DEMO) -> None:
    t0 = time.monotonic()
    clock = Clock()
    src = demo_corpus(data)
    url = db.database_url()
    say(f"database: {db.redact(url)}")
    migrate.upgrade(url)
    folder = get_settings().home / "demo"
    slice_dir = folder / DATASET
    say(f"ingest {src}: the first {params.pool:,} sentences of train as the pool, the first "
        f"{params.test:,} of test (a slice, so that the demo takes minutes)")
    n_pool = first_sentences(src / "train.tsv", params.pool, slice_dir / "pool.tsv")
    n_test = first_sentences(src / "test.tsv", params.test, slice_dir / "test.tsv")
    r = ingest_path(slice_dir, DATASET)
    say(f"  {r.sentences:,} new sentences ({n_pool:,} pool, {n_test:,} test; "
        f"{len(r.skipped)} files already ingested); {clock.lap()}")

    say("embed the pool (all-MiniLM-L6-v2, bundled)")
    st = embed_dataset(DATASET, splits=["pool"])
    say(f"  {st.embedded:,} sentences embedded; {clock.lap()}")

    p = SelectParams(DATASET, params.budget, "allabel", length_floor=0.5, k=params.k,
                     uncertainty_candidates=params.uncertainty_candidates)
    say(f"select {params.budget} sentences to annotate with the default strategy allabel+long "
        f"(diversity, similarity, then uncertainty asked of the LLM)")
    res = select(p)
    while res.status == "awaiting_annotation":
        written = annotate_with_gold(res.run_id, folder)
        say(f"  run {res.run_id}: {res.selected} picked so far; annotated {written} of them — with "
            f"the corpus's gold annotations standing in for a person (your team would use "
            f"allabel labelstudio push/pull, docs/labelstudio.md)")
        res = resume_selection(res.run_id)
    stages = ", ".join(f"{s} {n}" for s, n in res.by_stage.items())
    say(f"  run {res.run_id}: {res.status}; {res.selected} sentences selected and annotated "
        f"({stages}); {clock.lap()}")

    say(f"predict entities in {params.test_sample} test sentences with the LLM (by default the "
        f"bundled SmolLM2-135M), demonstrations from run {res.run_id}, k = {params.k}")
    pred = predict_split(DATASET, "test", f"run:{res.run_id}", params.k, params.test_sample)
    scores, _ = evaluate_run(pred.run_id)
    micro = next(s for s in scores if s.label == "*")
    say(f"  prediction run {pred.run_id}: {pred.processed} sentences labelled now; {clock.lap()}")
    show_results(pred.run_id, micro)
    # the quality estimate without gold is not computed here (its cross-validation asks the LLM
    # once per annotated sentence, ~40 s more): the demo says how a team gets it
    print(f"on a corpus without gold, estimate the labels' quality with: allabel quality --dataset "
          f"{DATASET} --predictions {pred.run_id} (cross-validation over the annotated sentences, "
          f"an audit sample when you have one; docs/quality.md)")
    print("does ALLabel beat random selection? not on 20 test sentences (intervals of ±0.2): see "
          "docs/results.md (measured on 900 test sentences, 3 seeds), or measure it here with "
          "`allabel demo --experiment` (prints its expected run time first)")
    say(f"done in {time.monotonic() - t0:.0f} s; run it again and it reuses everything")


def show_results(prediction_run: int, micro) -> None:
    """A few labelled sentences and the entity counts, read from the BI views a dashboard reads."""
    with db.connection() as conn:
        mentions = db.rows(conn, Q.labelled_sentences, {"run": prediction_run, "n": 5})
        counts = db.rows(conn, Q.label_counts, {"dataset": DATASET})
    print(f"prediction run {prediction_run}: F1 {micro.f1:.3f} against gold on "
          f"{micro.n_gold} gold mentions (P {micro.precision:.3f}, R {micro.recall:.3f}); "
          f"SmolLM2-135M only proves the pipeline, point allabel at a real model for quality")
    print("a few sentences as the LLM labelled them (bi.entity_mentions):")
    for m in mentions:
        ents = "; ".join(f"{e['label']}: {e['text']}" for e in m["entities"]) or "(none)"
        print(f"  [{m['sentence_id']}] {m['sentence_text'][:110]}")
        print(f"      -> {ents}")
    print("entity mentions by source and label (bi.label_counts):")
    print(f"  {'split':<6} {'source':<7} {'run':>4} {'label':<10} {'mentions':>8} {'sentences':>9}")
    for c in counts:
        run = "" if c["run"] is None else c["run"]
        print(f"  {c['split']:<6} {c['source']:<7} {run:>4} {c['label']:<10} {c['mentions']:>8} "
              f"{c['sentences']:>9}")


def run_experiment_demo(data: Path | None = None, params: ExperimentParams = EXPERIMENT) -> str:
    """The comparison grid on all of bc5cdr (``allabel demo --experiment``): its expected run
    time first (allabel/estimate.py), then the experiment and its report."""

    src = demo_corpus(data)
    url = db.database_url()
    say(f"database: {db.redact(url)}")
    migrate.upgrade(url)
    say(f"ingest {src}")
    r = ingest_path(src, params.dataset)
    say(f"  {r.sentences} new sentences ({len(r.skipped)} files already ingested)")
    est = estimate_experiment(params, url)
    minutes = "unknown" if est.seconds is None else f"~{est.seconds / 60:.0f} minutes"
    say(f"expected run time of the LLM work: {minutes} ({est.calls} LLM calls; embedding the "
        f"pool adds about a minute); the estimate:")
    for line in str(est).splitlines():
        say(f"  {line}")
    if any(reads_vectors(s) for s in params.strategies):
        say("embed the selection pool (train split)")
        st = embed_dataset(params.dataset, splits=params.pool_splits)
        say(f"  {st.embedded} sentences embedded")
    say(f"experiment: strategies {', '.join(params.strategies)}; budgets {', '.join(params.budgets)}; "
        f"{params.seeds} seeds; {params.test_sample} test sentences; k = {params.k}")
    exp_id = run_experiment(params, url)
    out, table = write_report(str(exp_id))
    print(table)
    print(f"report: {out / 'report.md'} (and report.html, f1.png)")
    return table
