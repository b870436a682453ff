"""``allabel ingest`` and ``allabel datasets``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from allabel.core.errors import ConfigError
from allabel.ingest import ingest_path
from allabel.ingest.drop import contents, drop_dataset
from allabel.ingest.inventory import inventory

datasets_app = typer.Typer(invoke_without_command=True)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.add_typer(datasets_app, name="datasets")


def ingest(
    path: Path = typer.Argument(..., help="A data file, or a folder of them (split = file stem)."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (created if missing)."),
    split: str | None = typer.Option(None, "--split", help="train, devel, test, pool, ..."),
    fmt: str | None = typer.Option(None, "--format", help="conll | jsonl | text (default: by extension)."),
    labels: Path | None = typer.Option(None, "--labels", help="JSON or TSV: label -> description."),
) -> None:
    """Load sentences (and gold entities) into a dataset split. Bad input changes nothing."""

    r = ingest_path(path, dataset, split, fmt, labels)
    if r.default_split:
        typer.echo("no --split: into split 'pool' (a lone file's sentences to select from and label)")
    for f in r.files:
        name = Path(f.path).name
        if f.skipped:
            rest = (f"labels added: {', '.join(r.labels_added)}" if r.labels_added
                    else "nothing to do")
            typer.echo(f"already ingested: {name} ({dataset}/{f.split}), {rest}")
        else:
            typer.echo(f"ingested {f.sentences:,} sentences, {f.entities:,} entities from {name} "
                       f"into {dataset}/{f.split}")
    if r.sentences:
        typer.echo(f"{r.sentences:,} sentences in {r.seconds:.2f} s "
                   f"({r.sentences / max(r.seconds, 1e-9):,.0f}/s)")
        if r.labels_added:
            typer.echo(f"labels added: {', '.join(r.labels_added)}")
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)


@datasets_app.callback()
def datasets(ctx: typer.Context,
             as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Each dataset: sentences, tokens, embedded sentences and gold entities per split and label
    (``allabel datasets drop NAME`` removes one)."""
    if ctx.invoked_subcommand is not None:
        return

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


@datasets_app.command("drop")
def drop(
    name: str = typer.Argument(..., help="The dataset to remove."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
) -> None:
    """Remove a dataset and everything made from it (sentences, entities, embeddings, runs,
    annotations, predictions, LLM request links, Label Studio project links, experiments) in
    one transaction. The shared LLM cache stays."""

    c = contents(name)
    what = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in c.items())
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError(f"dataset {name!r} holds {what}; pass --yes to drop it without asking")
        if not typer.confirm(f"drop dataset {name!r} ({what})?", default=False):
            typer.echo("nothing dropped")
            return
    gone = drop_dataset(name)
    typer.echo(f"dropped dataset {name}: " + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in gone.items()))
