"""``allabel ingest`` and ``allabel datasets``."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("datasets")(datasets)


def ingest(
    path: Path = typer.Argument(..., help="A data file, or a folder of them (split = file stem)."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (created if missing)."),
    split: str | None = typer.Option(None, "--split", help="train, devel, test, pool, ..."),
    fmt: str | None = typer.Option(None, "--format", help="conll | jsonl | text (default: by extension)."),
    labels: Path | None = typer.Option(None, "--labels", help="JSON or TSV: label -> description."),
) -> None:
    """Load sentences (and gold entities) into a dataset split. Bad input changes nothing."""
    from allabel.ingest import ingest_path

    r = ingest_path(path, dataset, split, fmt, labels)
    for f in r.files:
        name = Path(f.path).name
        if f.skipped:
            typer.echo(f"already ingested: {name} ({dataset}/{f.split}), nothing to do")
        else:
            typer.echo(f"ingested {f.sentences:,} sentences, {f.entities:,} entities from {name} "
                       f"into {dataset}/{f.split}")
    if r.sentences:
        typer.echo(f"{r.sentences:,} sentences in {r.seconds:.2f} s "
                   f"({r.sentences / max(r.seconds, 1e-9):,.0f}/s)")


def datasets(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Each dataset: sentences, tokens, embedded sentences and gold entities per split and label."""
    from allabel.ingest.inventory import inventory

    out = inventory()
    if as_json:
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if not out:
        typer.echo("no datasets yet (allabel ingest PATH --dataset NAME)")
        return
    for name, d in out.items():
        typer.echo(f"{name}  labels: {', '.join(d['labels']) or '-'}")
        typer.echo(f"  {'split':<10} {'sentences':>10} {'tokens':>10} {'embedded':>9}  gold entities")
        for split, st in d["splits"].items():
            ents = ", ".join(f"{k} {v:,}" for k, v in st["entities"].items()) or "-"
            typer.echo(f"  {split:<10} {st['sentences']:>10,} {st['tokens']:>10,} "
                       f"{st['embedded']:>9,}  {ents}")
