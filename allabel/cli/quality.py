"""``allabel quality`` (how good are the LLM's labels, without gold) and ``allabel review``
(what a person should correct first)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from allabel.core.errors import ConfigError
from allabel.quality.report import quality as run_quality
from allabel.quality.review import review as run_review
from allabel.quality.scoring import MICRO


def register(app: typer.Typer) -> None:
    app.command("quality")(quality)
    app.command("review")(review)


def _iv(row) -> str:
    if row.low is None:
        return f"{row.value:.3f}"
    return f"{row.value:.3f} [{row.low:.3f}, {row.high:.3f}]"


def quality(
    dataset: str = typer.Option(..., "--dataset"),
    predictions: int | None = typer.Option(None, "--predictions",
                                           help="Prediction run (default: the dataset's latest)."),
    folds: int = typer.Option(5, "--folds", min=2, help="Cross-validation folds over the annotated sentences."),
    threshold: float = typer.Option(0.8, "--threshold",
                                    help="Precision of mentions whose calibrated probability is at least this."),
    calibration: str = typer.Option("platt", "--calibration", help="platt (default) | isotonic"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Estimated strict/partial P/R/F1 with 95% intervals from the audit and from cross-validation
    (never mixed), confidence AUROC/ECE and calibration; stored in bi.quality."""

    rep = run_quality(dataset, predictions, folds, threshold, calibration, show_progress=not as_json)
    if as_json:
        typer.echo(json.dumps(rep.to_dict(), indent=1, default=str))
        return
    typer.echo(f"quality of prediction run {rep.run_id} ({rep.dataset}); 95% bootstrap intervals over sentences")
    for e in rep.estimates:
        typer.echo(f"\n{e.source}: {e.sentences} sentences, {e.gold_mentions} annotated mentions, "
                   f"{e.predicted_mentions} predicted")
        typer.echo(f"  {'label':<14} {'F1':>22} {'precision':>22} {'recall':>22} {'partial F1':>22} {'gold':>5}")
        labels = sorted({r.label for r in e.rows}, key=lambda lab: (lab == MICRO, lab))
        for lab in labels:
            g = e.get("f1", lab)
            typer.echo(f"  {'micro' if lab == MICRO else lab:<14} {_iv(g):>22} {_iv(e.get('precision', lab)):>22} "
                       f"{_iv(e.get('recall', lab)):>22} {_iv(e.get('partial_f1', lab)):>22} {g.gold_mentions:>5}")
        for n in e.notes:
            typer.echo(f"  note: {n}")
    for c in rep.confidence:
        def f(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.3f}"
        typer.echo(f"\nconfidence on {c.source} ({c.mentions} mentions, {c.correct} correct): AUROC {f(c.auroc)} "
                   f"(calibrated {f(c.auroc_calibrated)}), ECE {f(c.ece)} -> {f(c.ece_calibrated)} calibrated "
                   f"(in-sample)")
    if rep.calibration is not None:
        typer.echo(f"calibration: {rep.calibration['method']} on {rep.calibration['mentions']} mentions; "
                   f"stored for {rep.run_mentions} mentions of run {rep.run_id} (bi.latest_llm_mentions, "
                   f"bi.current_mentions: calibrated_confidence)")
        pa = "n/a" if rep.precision_above is None else f"{rep.precision_above:.3f}"
        typer.echo(f"mentions with calibrated probability >= {rep.threshold:g}: estimated precision {pa} "
                   f"({rep.scored_above} scored on {rep.threshold_source}); {rep.run_mentions_above} of the "
                   f"run's {rep.run_mentions} mentions pass")
    if rep.plot:
        typer.echo(f"reliability plot: {rep.plot}")
    for n in rep.notes:
        typer.echo(f"note: {n}")
    typer.echo(f"LLM calls: {rep.llm_calls} ({rep.llm_requests} requests; a re-run is answered from the cache)")
    typer.echo(f"next: allabel review --predictions {rep.run_id} --budget 50 --format labelstudio --out review.json")


def review(
    predictions: int = typer.Option(..., "--predictions", help="Prediction run (measured by allabel quality)."),
    budget: int = typer.Option(..., "--budget", min=1, help="Sentences to review."),
    fmt: str = typer.Option("labelstudio", "--format", help="labelstudio | jsonl"),
    out: Path | None = typer.Option(None, "--out", "-o", help="File (default: stdout)."),
) -> None:
    """Export the N LLM-labelled sentences most likely to hold an error, LLM mentions as
    pre-annotations; import the corrections with `allabel import FILE --run REVIEW_RUN`."""

    if fmt not in ("labelstudio", "jsonl"):
        raise ConfigError(f"--format {fmt!r}: labelstudio or jsonl")
    if out is None:
        res = run_review(predictions, budget, fmt, sys.stdout)
        sys.stdout.flush()
    else:
        with out.open("w", encoding="utf-8") as f:
            res = run_review(predictions, budget, fmt, f)
        if res.export is not None and res.export.label_config is not None:
            cfg = out.with_name(out.stem + ".config.xml")
            cfg.write_text(res.export.label_config, encoding="utf-8")
            print(f"labeling config: {cfg}", file=sys.stderr)
    print(f"review run {res.run_id}: {res.picked} sentences of prediction run {predictions} "
          f"({res.annotated} corrected so far; {res.status})", file=sys.stderr)
    print(f"next: correct them, then allabel import FILE --run {res.run_id} (or allabel labelstudio push "
          f"{res.run_id} / pull {res.run_id})", file=sys.stderr)
