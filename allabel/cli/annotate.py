"""``allabel export`` and ``allabel import``: the hand-off of a run's sentences to the people
who annotate them (files), and of any entities to other tools (``allabel labelstudio`` is the
same hand-off through a running Label Studio)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import typer

from allabel.annotate import import_file
from allabel.annotate.exporter import export_entities, export_run, write_label_config
from allabel.core.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("import")(import_)


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
        with _open_for_writing(out, "--out") as f:
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
            try:
                write_label_config(res, target)
            except OSError as e:
                raise ConfigError(f"--label-config {target}: cannot write it "
                                  f"({e.strerror or type(e).__name__})") from None
            print(f"labeling config: {target} (paste it under Settings > Labeling Interface > Code)",
                  file=sys.stderr)


def _open_for_writing(path: Path, option: str) -> TextIO:
    """``path`` opened for the export, or a usage error (exit 3) naming the option: the path is
    an argument the user typed (a directory, a folder that does not exist, no permission), not
    bad input data."""
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give a file name")
    try:
        return path.open("w", encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{option} {path}: cannot write it ({e.strerror or type(e).__name__})") from None


def import_(
    file: Path = typer.Argument(..., help="Label Studio JSON or JSON-MIN export, JSONL or CoNLL."),
    run: int = typer.Option(..., "--run"),
    fmt: str | None = typer.Option(None, "--format", help="labelstudio | jsonl | conll (default: detect)"),
    annotator: str | None = typer.Option(
        None, "--annotator", help="Who annotated, when the file names no e-mail."),
) -> None:
    """Validate and store annotations for a run; a bad file changes nothing."""

    res = import_file(file, run, fmt, annotator)
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    typer.echo(f"imported annotations of {res.sentences} sentences into run {run} "
               f"({res.written} new or changed)")
