"""``allabel select``, ``allabel export`` and ``allabel import``."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from allabel.core.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("select")(select)
    app.command("export")(export)
    app.command("import")(import_)


def select(
    dataset: str | None = typer.Option(None, "--dataset"),
    budget: str | None = typer.Option(None, "--budget",
                                      help="A count (120) or a share of the pool (5%); not with full."),
    strategy: str = typer.Option("allabel+long", "--strategy",
                                 help="allabel+long (default: ALLabel with stages 1-2 on sentences of at "
                                      "least median length, chosen on devel, docs/results.md) | allabel "
                                      "(the paper) | random | coreset | similarity | uncertainty | full | "
                                      "allabel:<stages> (ablations: allabel:DS, allabel:UDS, ...)"),
    similarity: str = typer.Option("embedding", "--similarity", help="Stage-2 kNN: embedding | bm25"),
    ratio: str = typer.Option("1:3:1", "--ratio", help="Diversity:similarity:uncertainty."),
    order: str = typer.Option("DSU", "--order", help="Stage order, a permutation of DSU."),
    seed: int = typer.Option(0, "--seed"),
    oracle: bool = typer.Option(False, "--oracle", help="Copy gold as the annotations (experiments)."),
    knn: int = typer.Option(10, "--knn", min=1, help="K neighbours per pool sentence in stage 2."),
    k: int = typer.Option(4, "--k", min=0, help="Demonstrations per prompt in stage 3."),
    uncertainty_candidates: str = typer.Option(
        "10x", "--uncertainty-candidates",
        help="Sentences stage 3 scores with the LLM: all | 10x (times the stage size) | a count."),
    pool_splits: str | None = typer.Option(None, "--pool-splits", help="e.g. train,devel (never test)."),
    length_floor: float = typer.Option(0.0, "--length-floor", min=0.0, max=1.0,
                                       help="Stages 1-2 skip sentences shorter than this pool quantile."),
    uncertainty_score: str = typer.Option("perplexity", "--uncertainty-score",
                                          help="Stage 3 ranks by perplexity (paper) | total (summed NLL) | "
                                               "entities (perplexity, answers naming an entity first)."),
    resume: int | None = typer.Option(None, "--resume", help="Continue RUN once it is annotated."),
    estimate: bool = typer.Option(False, "--estimate",
                                  help="Print stage 3's calls, tokens, time and money; call no LLM."),
    workers: int = typer.Option(1, "--workers", min=1,
                                help="Local processes answering stage 3 (1 thread each by default)."),
) -> None:
    """Pick the sentences worth annotating (ALLabel or a baseline); every pick is recorded."""
    from allabel.select.run import SelectParams
    from allabel.select.run import resume as resume_run
    from allabel.select.run import select as run_select
    from allabel.select.strategies import canonical, make_strategy
    from allabel.select.variants import split_variant

    p = None
    if resume is None:
        strategy, variant = split_variant(canonical(strategy))  # +long etc. set the options below
        takes_budget = make_strategy(strategy).takes_budget
        if not takes_budget and budget is not None:
            raise ConfigError(f"--strategy {strategy} selects the whole pool: drop --budget")
        if not dataset or (not budget and takes_budget):
            raise ConfigError("--dataset and --budget are required (or --resume RUN)")
        p = SelectParams(dataset, budget, strategy, similarity, ratio, order, seed, oracle, knn, k,
                         uncertainty_candidates,
                         pool_splits.split(",") if pool_splits else None,
                         length_floor=length_floor, uncertainty_score=uncertainty_score)
        p = replace(p, **variant)
    if estimate:
        from allabel.estimate import estimate_select
        from allabel.select.run import run_params

        typer.echo(str(estimate_select(p if p is not None else run_params(resume), workers=workers)))
        return
    r = resume_run(resume, workers=workers) if p is None else run_select(p, workers=workers)
    _print_result(r)


def _print_result(r: Any) -> None:
    """A selection's one-line summary, stage 3's perplexity coverage, and the next command."""
    stages = ", ".join(f"{s} {n}" for s, n in r.by_stage.items())
    typer.echo(f"run {r.run_id}: {r.status}; {r.selected} sentences selected ({stages})")
    if r.perplexity_known_share is not None:
        typer.echo(f"uncertainty: perplexity known for {r.perplexity_known_share:.0%} of "
                   f"{r.uncertainty_candidates} candidates")
    if r.status == "awaiting_annotation":  # what a person is about to annotate, and why
        from allabel.select.picks import pick_lines
        from allabel.store import db

        with db.connection() as conn:
            lines = pick_lines(conn, r.run_id)
        typer.echo("to annotate (rank stage (reason): text):")
        for line in lines:
            typer.echo(line)
    typer.echo(next_step(r.run_id, r.status))


def next_step(run_id: int, status: str) -> str:
    """The command that follows: annotate and resume, or predict with the annotated run."""
    if status == "awaiting_annotation":
        return (f"next: allabel export {run_id} --format labelstudio --out todo.json; annotate; "
                f"allabel import FILE --run {run_id}; allabel select --resume {run_id}")
    from allabel.ingest.inventory import run_dataset

    name, splits = run_dataset(run_id)
    split = "test" if "test" in splits else splits[0]
    return f"next: allabel predict --dataset {name} --split {split} --demos {run_id}"


def export(
    run: int | None = typer.Argument(None, help="A selection or prediction run (or use --dataset)."),
    dataset: str | None = typer.Option(None, "--dataset", help="Export a dataset (with --source)."),
    split: str | None = typer.Option(None, "--split", help="Only this split."),
    source: str | None = typer.Option(
        None, "--source",
        help="gold | human (latest annotation of each sentence) | llm (latest prediction). "
             "Without it: the run's sentences to annotate, pre-filled by the LLM."),
    fmt: str = typer.Option("jsonl", "--format", help="labelstudio | jsonl | conll"),
    out: Path | None = typer.Option(None, "--out", "-o", help="File (default: stdout)."),
    include_annotated: bool = typer.Option(False, "--all", help="Also sentences already annotated."),
    label_config: Path | None = typer.Option(
        None, "--label-config",
        help="Where to write the Label Studio labeling config (default: beside --out, *.config.xml)."),
) -> None:
    """Write sentences with entities: a run's sentences to annotate, or the gold, human or LLM
    entities of a dataset, split or run."""
    from allabel.annotate.exporter import export_entities, export_run, write_label_config

    def go(f):
        if source is None:
            if run is None:
                raise ConfigError("give a selection RUN to export for annotation, or --source "
                                  "gold|human|llm with RUN or --dataset")
            if dataset is not None or split is not None:
                raise ConfigError("--dataset/--split go with --source")
            return export_run(run, fmt, f, include_annotated)
        if include_annotated:
            raise ConfigError("--all goes with the annotation export (no --source)")
        return export_entities(source, fmt, f, dataset=dataset, split=split, run_id=run)

    if out is None:
        res = go(sys.stdout)
        sys.stdout.flush()
    else:
        with out.open("w", encoding="utf-8") as f:
            res = go(f)
    what = f"run {run}" if run is not None else f"dataset {dataset}" + (f" ({split})" if split else "")
    msg = f"exported {res.sentences} sentences, {res.entities} entities of {what}"
    print(msg + (f" (source {source})" if source else ""), file=sys.stderr)
    if res.skipped_line():
        print(f"warning: {res.skipped_line()}", file=sys.stderr)
    if res.label_config is not None:
        target = label_config or (out.with_name(out.stem + ".config.xml") if out is not None else None)
        if target is None:
            print("labeling config not written (stdout export): add --label-config FILE or --out FILE",
                  file=sys.stderr)
        else:
            write_label_config(res, target)
            print(f"labeling config: {target} (paste it under Settings > Labeling Interface > Code)",
                  file=sys.stderr)


def import_(
    file: Path = typer.Argument(..., help="Label Studio JSON or JSON-MIN export, JSONL or CoNLL."),
    run: int = typer.Option(..., "--run"),
    fmt: str | None = typer.Option(None, "--format", help="labelstudio | jsonl | conll (default: detect)"),
    annotator: str | None = typer.Option(
        None, "--annotator", help="Who annotated, when the file names no e-mail."),
) -> None:
    """Validate and store annotations for a run; a bad file changes nothing."""
    from allabel.annotate import import_file

    res = import_file(file, run, fmt, annotator)
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    typer.echo(f"imported annotations of {res.sentences} sentences into run {run} "
               f"({res.written} new or changed)")
