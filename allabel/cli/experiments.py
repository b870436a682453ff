"""``allabel evaluate``, ``allabel experiment``, ``allabel report`` and ``allabel demo``."""

from __future__ import annotations

from pathlib import Path

import typer


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
    from allabel.experiments.evaluate import evaluate_run

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
) -> None:
    """Select (oracle) -> predict the test split -> evaluate, for every strategy x budget x seed."""
    from allabel.experiments.experiment import ExperimentParams, run_experiment
    from allabel.experiments.report import write_report
    from allabel.select.strategies import ABLATIONS

    names = _csv(strategies) + (list(ABLATIONS) if ablations else [])
    p = ExperimentParams(dataset, _csv(budgets), names, seeds, test_sample, k,
                         test_split=eval_split, uncertainty_candidates=uncertainty_candidates,
                         pool_splits=_csv(pool_splits) if pool_splits else None)
    if estimate:
        from allabel.estimate import estimate_experiment

        typer.echo(str(estimate_experiment(p, workers=workers)))
        return
    exp_id = run_experiment(p, workers=workers)
    folder, table = write_report(str(exp_id), out)
    typer.echo(table)
    typer.echo(f"experiment {exp_id}; report: {folder / 'report.md'}")


def report(
    experiment: str = typer.Argument("latest", help="Experiment id or 'latest'."),
    out: Path | None = typer.Option(None, "--out",
                                    help="Folder (default $ALLABEL_HOME/reports/experiment-ID)."),
    resamples: int = typer.Option(10_000, "--resamples", min=100, help="Bootstrap resamples."),
    bootstrap_seed: int = typer.Option(0, "--bootstrap-seed", help="Seed of the bootstrap resamples."),
) -> None:
    """Markdown + HTML report: F1 and F1 − random with 95% paired bootstrap intervals, costs, a plot."""
    from allabel.experiments.report import write_report

    folder, table = write_report(experiment, out, resamples, bootstrap_seed)
    typer.echo(table)
    typer.echo(f"report: {folder / 'report.md'} (and report.html, f1.png)")


def demo(
    data: Path | None = typer.Option(
        None, "--data", help="bc5cdr folder, or a folder holding bc5cdr/ (default: the repository's data/, "
        "or ALLABEL_DATA)."),
    strategies: str | None = typer.Option(None, "--strategies",
                                          help="Default allabel,random,coreset,full."),
    budgets: str | None = typer.Option(None, "--budgets", help="Default 0.5%,2%."),
    test_sample: int | None = typer.Option(None, "--test-sample", min=1, help="Default 20."),
    k: int | None = typer.Option(None, "--k", min=0, help="Demonstrations per prompt (default 2)."),
) -> None:
    """The end-to-end demo on the embedded defaults (about 7 minutes on 2 cores)."""
    from dataclasses import replace

    from allabel.experiments.demo import DEMO, run_demo

    params = DEMO
    if strategies:
        params = replace(params, strategies=_csv(strategies))
    if budgets:
        params = replace(params, budgets=_csv(budgets))
    if test_sample is not None:
        params = replace(params, test_sample=test_sample)
    if k is not None:
        params = replace(params, k=k)
    run_demo(data, params)
