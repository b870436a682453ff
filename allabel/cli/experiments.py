"""``allabel evaluate``, ``allabel experiment``, ``allabel report`` and ``allabel demo``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from allabel.core.errors import ConfigError
from allabel.experiments.demo import DEMO, EXPERIMENT, run_demo, run_experiment_demo
from allabel.experiments.estimate import estimate_experiment
from allabel.experiments.evaluate import evaluate_run
from allabel.experiments.experiment import ExperimentParams, experiment_sample, run_experiment
from allabel.experiments.report import write_report
from allabel.experiments.rounds import curves, markdown
from allabel.select.strategies import ABLATIONS
from allabel.store import db


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("experiment")(experiment)
    app.command("report")(report)
    app.command("demo")(demo)


def evaluate(
    predictions: int = typer.Option(..., "--predictions", help="Prediction run id."),
    against: str = typer.Option("gold", "--against",
                                help="The reference: only 'gold' (the dataset's gold entities)."),
) -> None:
    """Entity-level P/R/F1 (strict and partial overlap) in DuckDB; stored in `evaluations`."""

    scores, seconds = evaluate_run(predictions, against)
    typer.echo(f"{'label':<12} {'P':>6} {'R':>6} {'F1':>6} {'pP':>6} {'pR':>6} {'pF1':>6} "
               f"{'tp':>6} {'pred':>6} {'gold':>6}")
    for s in scores:
        typer.echo(f"{'micro' if s.label == '*' else s.label:<12} {s.precision:6.3f} {s.recall:6.3f} "
                   f"{s.f1:6.3f} {s.partial_precision:6.3f} {s.partial_recall:6.3f} "
                   f"{s.partial_f1:6.3f} {s.tp:>6} {s.n_pred:>6} {s.n_gold:>6}")
    typer.echo(f"(p = partial overlap; computed in {seconds:.3f} s)")


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def experiment(
    dataset: str = typer.Option(..., "--dataset"),
    budgets: str = typer.Option("1%,5%,10%", "--budgets"),
    strategies: str = typer.Option("allabel+long,allabel,random,coreset,similarity,uncertainty,full", "--strategies",
                                   help="Comma-separated; also allabel:<stages> ablations such as "
                                        "allabel:DS, allabel:SDU (docs/selection.md)."),
    ablations: bool = typer.Option(False, "--ablations",
                                   help="Add every single stage, pair and other order of the stages."),
    seeds: int = typer.Option(3, "--seeds", min=1),
    test_sample: int | None = typer.Option(None, "--test-sample", min=1),
    k: int = typer.Option(4, "--k", min=0),
    uncertainty_candidates: str = typer.Option(
        "10x", "--uncertainty-candidates", help="Stage 3 candidates: all | 10x (times the stage size) | a count."),
    pool_splits: str | None = typer.Option(None, "--pool-splits"),
    eval_split: str = typer.Option("test", "--eval-split",
                                   help="Split the cells are scored on (devel: choose settings without "
                                        "touching test; then pool only from the other splits)."),
    workers: int = typer.Option(1, "--workers", min=1,
                                help="Local processes predicting each cell (1 thread each by default)."),
    out: Path | None = typer.Option(None, "--out",
                                    help="Report folder (default $ALLABEL_HOME/reports/experiment-ID)."),
    estimate: bool = typer.Option(False, "--estimate",
                                  help="Print calls, tokens, time and money of the cells to run; "
                                       "call no LLM."),
    rounds: int | None = typer.Option(None, "--rounds", min=1,
                                      help="Oracle rounds per strategy and seed (with --round-size)."),
    round_size: str | None = typer.Option(None, "--round-size",
                                          help="Each round's budget: a count, share (1%) or tokens (2000t)."),
    min_gain: float = typer.Option(0.01, "--min-gain", help="Stopping threshold of the round curves."),
) -> None:
    """Select (oracle) -> predict the test split -> evaluate, for every strategy x budget x seed
    (or, with --rounds, for every round of every strategy x seed)."""

    names = _csv(strategies) + (list(ABLATIONS) if ablations else [])
    p = ExperimentParams(dataset, _csv(budgets), names, seeds, test_sample, k,
                         test_split=eval_split, uncertainty_candidates=uncertainty_candidates,
                         pool_splits=_csv(pool_splits) if pool_splits else None,
                         rounds=rounds, round_size=round_size)
    if estimate:
        if rounds:
            raise ConfigError("--estimate prices budget cells, not --rounds")

        typer.echo(str(estimate_experiment(p, workers=workers)))
        return
    exp_id = run_experiment(p, workers=workers)
    if rounds:
        _print_round_curves(exp_id, min_gain)
        return
    folder, table = write_report(str(exp_id), out)
    typer.echo(table)
    typer.echo(f"experiment {exp_id}; report: {folder / 'report.md'}")


def _print_round_curves(exp_id: int, min_gain: float) -> None:
    """``experiment --rounds``: the round curves (true F1, gains, verdicts) as markdown."""
    with db.connection() as conn:
        typer.echo(markdown(curves(conn, exp_id, experiment_sample(conn, exp_id), min_gain=min_gain)))
    typer.echo(f"experiment {exp_id}")


def report(
    experiment: str = typer.Argument("latest", help="Experiment id or 'latest'."),
    out: Path | None = typer.Option(None, "--out",
                                    help="Folder (default $ALLABEL_HOME/reports/experiment-ID)."),
    resamples: int = typer.Option(10_000, "--resamples", min=100, help="Bootstrap resamples."),
    bootstrap_seed: int = typer.Option(0, "--bootstrap-seed", help="Seed of the bootstrap resamples."),
) -> None:
    """Markdown + HTML report: F1 and F1 − random with 95% paired bootstrap intervals, costs, a plot."""

    folder, table = write_report(experiment, out, resamples, bootstrap_seed)
    typer.echo(table)
    typer.echo(f"report: {folder / 'report.md'} (and report.html, f1.png)")


def demo(
    data: Path | None = typer.Option(
        None, "--data", help="bc5cdr folder, or a folder holding bc5cdr/ (default: the repository's data/, "
        "or ALLABEL_DATA)."),
    experiment: bool = typer.Option(
        False, "--experiment",
        help="Instead: the comparison grid (allabel+long against random at 5% of bc5cdr's train split, "
             "3 seeds, 300 test sentences); prints its expected run time first (about an hour on 2 cores)."),
    budget: str | None = typer.Option(None, "--budget", help="Demo: sentences to annotate (default 20)."),
    pool: int | None = typer.Option(None, "--pool", min=10,
                                    help="Demo: sentences of train in the pool (default 1000)."),
    strategies: str | None = typer.Option(None, "--strategies",
                                          help="--experiment: default allabel+long,random."),
    budgets: str | None = typer.Option(None, "--budgets", help="--experiment: default 5%."),
    seeds: int | None = typer.Option(None, "--seeds", min=1, help="--experiment: default 3."),
    test_sample: int | None = typer.Option(None, "--test-sample", min=1,
                                           help="Test sentences labelled (demo 20, --experiment 300)."),
    k: int | None = typer.Option(None, "--k", min=0, help="Demonstrations per prompt (default 2)."),
) -> None:
    """The main job end to end on a slice of BC5CDR: ingest, embed, select (allabel+long),
    annotate (gold standing in for a person), predict, BI counts; about 3 minutes on 2 cores."""

    if experiment:
        run_experiment_demo(data, _given(EXPERIMENT, strategies=_csv(strategies) if strategies else None,
                                         budgets=_csv(budgets) if budgets else None, seeds=seeds,
                                         test_sample=test_sample, k=k))
        return
    if strategies or budgets or seeds is not None:
        raise ConfigError("--strategies, --budgets and --seeds belong to --experiment; the demo "
                          "selects with the default strategy (--budget N sets its size)")
    run_demo(data, _given(DEMO, budget=budget or None, pool=pool, test_sample=test_sample, k=k))


def _given(defaults: Any, **options: Any) -> Any:
    """``defaults`` with the options the command line gave (None: not given)."""
    return replace(defaults, **{name: v for name, v in options.items() if v is not None})
