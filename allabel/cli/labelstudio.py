"""``allabel labelstudio push|pull|config``: the annotation hand-off through a running Label Studio."""

from __future__ import annotations

import sys

import typer

ls_app = typer.Typer(help="Send a run's sentences to a running Label Studio and bring the annotations back.",
                     no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(ls_app, name="labelstudio")


URL = typer.Option(None, "--url", help="Label Studio URL (default: ALLABEL_LABELSTUDIO_URL / LABEL_STUDIO_URL).")


@ls_app.command("push")
def push(run: int = typer.Argument(..., help="Selection run id."), url: str | None = URL) -> None:
    """Create (or find) the run's project and add the sentences still to annotate, pre-annotated
    by the LLM; pushing again adds only what the project lacks."""
    from allabel.annotate.labelstudio import push as do_push

    r = do_push(run, url)
    what = "created" if r.created_project else "found"
    typer.echo(f"project {r.project_id} {what}: {r.added} tasks added, {r.present} already there")
    typer.echo(f"next: annotate in Label Studio, then: allabel labelstudio pull {run}")


@ls_app.command("pull")
def pull(
    run: int = typer.Argument(..., help="Selection run id."),
    url: str | None = URL,
    annotator: str | None = typer.Option(None, "--annotator",
                                         help="Who annotated, when Label Studio gives no e-mail."),
) -> None:
    """Store the project's annotations for the run (validated, one transaction; idempotent)."""
    from allabel.annotate.labelstudio import pull as do_pull

    r = do_pull(run, url, annotator=annotator)
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    typer.echo(f"pulled annotations of {r.sentences} sentences into run {run} ({r.written} new or changed)")


@ls_app.command("config")
def config(dataset: str = typer.Option(..., "--dataset")) -> None:
    """Print the labeling config for a dataset's labels (Settings > Labeling Interface > Code)."""
    from allabel.annotate.labelstudio import dataset_config

    typer.echo(dataset_config(dataset), nl=False)
