"""``allabel embed`` and ``allabel search``."""

from __future__ import annotations

import json

import typer

from allabel.core.config import get_settings


def register(app: typer.Typer) -> None:
    app.command("embed")(embed)
    app.command("search")(search)


def embed(
    dataset: str = typer.Option(..., "--dataset"),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1),
    workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes."),
    split: list[str] | None = typer.Option(None, "--split", help="Only these splits (repeatable)."),
) -> None:
    """Embed the sentences that have no vector yet (resumable, safe to run concurrently)."""
    from allabel.retrieval.embed import embed_dataset

    st = embed_dataset(dataset, batch_size, workers, splits=split or None)
    if st.embedded == 0:
        typer.echo(f"nothing to do: every sentence of {dataset} has a {get_settings().embed_model} vector")
    else:
        typer.echo(f"embedded {st.embedded:,} sentences in {st.seconds:.1f} s "
                   f"({st.embedded / max(st.seconds, 1e-9):,.0f}/s)")


def search(
    query: str = typer.Argument(..., help="Query text."),
    dataset: str = typer.Option(..., "--dataset"),
    k: int = typer.Option(5, "--k", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """BM25 top-k sentences of a dataset."""
    from allabel.retrieval.bm25 import search_dataset

    hits = search_dataset(dataset, query, k)
    if as_json:
        typer.echo(json.dumps([{"rank": i, "score": h.score, "sentence_id": h.sentence_id,
                                "split": h.split, "text": h.text} for i, h in enumerate(hits, 1)],
                              ensure_ascii=False))
        return
    if not hits:
        typer.echo("no match")
    for i, h in enumerate(hits, 1):
        typer.echo(f"{i:>2}  {h.score:7.3f}  #{h.sentence_id:<8} {h.split:<6} {h.text}")
