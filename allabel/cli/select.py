"""``allabel select``: pick the sentences worth annotating (once, or round after round), and
``allabel rounds``: the rounds of a dataset's campaign and whether another is worth it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import typer

from allabel.core.errors import ConfigError
from allabel.ingest.inventory import run_dataset
from allabel.select.estimate import estimate_select
from allabel.select.params import SelectParams
from allabel.select.picks import pick_lines
from allabel.select.round_report import rounds as list_rounds
from allabel.select.round_report import table
from allabel.select.run import resume as resume_run
from allabel.select.run import run_params
from allabel.select.run import select as run_select
from allabel.select.strategies import canonical, make_strategy
from allabel.select.variants import split_variant
from allabel.store import db


def register(app: typer.Typer) -> None:
    app.command("select")(select)
    app.command("rounds")(rounds)


FLOOR_HELP = ("Stages 1-2 skip sentences shorter than this pool quantile [default: 0.5 with the default "
              "allabel+long (its +long), 0.0 with any strategy without +long].")


def select(
    dataset: str | None = typer.Option(None, "--dataset"),
    budget: str | None = typer.Option(None, "--budget",
                                      help="A count (120), a share of the pool (5%) or tokens (5000t); "
                                           "not with full."),
    next_: str | None = typer.Option(None, "--next", help="A new round (size as --budget) once the last is done."),
    allow_annotated: bool = typer.Option(False, "--allow-annotated", help="Ignore other runs' picks (independent)."),
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
    length_floor: float | None = typer.Option(None, "--length-floor", min=0.0, max=1.0, help=FLOOR_HELP),
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
    p, budget = None, _round_budget(budget, next_, resume)
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
                         uncertainty_score=uncertainty_score, allow_annotated=allow_annotated)
        # +long: floor 0.5, unless --length-floor says otherwise
        p = replace(p, **{**variant, **({} if length_floor is None else {"length_floor": length_floor})})
    if estimate:
        typer.echo(str(estimate_select(p if p is not None else run_params(resume), workers=workers)))
        return
    r = (resume_run(resume, workers=workers) if p is None
         else run_select(p, workers=workers, next_round=next_ is not None))
    _print_result(r)


def _round_budget(budget: str | None, next_: str | None, resume: int | None) -> str | None:
    """``--next N`` is the budget of a new round; with ``--budget`` or ``--resume`` a usage error."""
    if next_ is None:
        return budget
    if budget is not None or resume is not None:
        raise ConfigError("--next N is the budget of a new round: give it without --budget or --resume")
    return next_


def rounds(
    dataset: str = typer.Option(..., "--dataset"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per round, in a list."),
    min_gain: float = typer.Option(0.01, "--min-gain",
                                   help="Stopping threshold: F1 a round must at least add."),
) -> None:
    """The dataset's annotation rounds: picks, tokens, quality, cost, and whether to go on."""
    with db.connection() as conn:
        rows = list_rounds(conn, dataset, min_gain)
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=1))
    elif not rows:
        typer.echo(f"no rounds yet: allabel select --dataset {dataset} --next 1%")
    else:
        typer.echo(table(rows))


def _print_result(r: Any) -> None:
    """A selection's one-line summary, stage 3's perplexity coverage, and the next command."""
    stages = ", ".join(f"{s} {n}" for s, n in r.by_stage.items())
    typer.echo(f"run {r.run_id}: {r.status}; {r.selected} sentences selected ({stages})")
    if r.perplexity_known_share is not None:
        typer.echo(f"uncertainty: perplexity known for {r.perplexity_known_share:.0%} of "
                   f"{r.uncertainty_candidates} candidates")
    if r.status == "awaiting_annotation":  # what a person is about to annotate, and why
        with db.connection() as conn:
            lines = pick_lines(conn, r.run_id)
        typer.echo("to annotate (rank stage (reason): text):")
        for line in lines:
            typer.echo(line)
    typer.echo(next_step(r.run_id, r.status))


def next_step(run_id: int, status: str) -> str:
    """The command that follows: annotate and resume, or predict with the annotated run."""
    if status == "awaiting_annotation":
        return (f"next: annotate run {run_id}: allabel labelstudio push {run_id}, annotate in Label "
                f"Studio, allabel labelstudio pull {run_id} (or: allabel export {run_id} --format "
                f"labelstudio --out todo.json, annotate, allabel import FILE --run {run_id}); then "
                f"allabel select --resume {run_id}")

    name, splits = run_dataset(run_id)
    pool = run_params(run_id).pool_splits or [sp for sp in splits if sp != "test"]
    # a split outside the pool: predicting the pool would label the very sentences the
    # demonstrations come from (and stands for no evaluation)
    outside = sorted((sp for sp in splits if sp not in pool), key=lambda sp: (sp != "test", sp))
    if not outside and "pool" in pool:  # a raw corpus (ingest's default split): label the rest of it
        return f"next: allabel predict --dataset {name} --split pool --demos {run_id} --new"
    if not outside:
        return (f"next: ingest the sentences to label as a split of their own (allabel ingest "
                f"FILE --dataset {name} --split new), then allabel predict --dataset {name} "
                f"--split new --demos {run_id}")
    return f"next: allabel predict --dataset {name} --split {outside[0]} --demos {run_id}"

