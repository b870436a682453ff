"""``allabel labelstudio push|pull|config``: the annotation hand-off through a running Label Studio."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from allabel.annotate import labelstudio_server as lss
from allabel.annotate.labelstudio import dataset_config, run_progress
from allabel.annotate.labelstudio import pull as do_pull
from allabel.annotate.labelstudio import push as do_push
from allabel.cli.select import next_step

ls_app = typer.Typer(help="Send a run's sentences to a running Label Studio and bring the annotations back.",
                     no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(ls_app, name="labelstudio")


URL = typer.Option(None, "--url", help="Label Studio URL (default: ALLABEL_LABELSTUDIO_URL / LABEL_STUDIO_URL).")


@ls_app.command("serve")
def serve(
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port on 127.0.0.1."),
    data: Path | None = typer.Option(None, "--data",
                                     help="Folder of the server's data, token and password "
                                          "(default $ALLABEL_HOME/labelstudio)."),
    timeout: float = typer.Option(300, "--timeout", min=1, help="Seconds to wait for the start."),
) -> None:
    """Start the Label Studio installed by ./scripts/setup, offline, on 127.0.0.1, in the
    foreground (Ctrl-C stops it); prints the URL and the settings push and pull need."""

    folder = lss.serve_folder(data)
    creds = lss.credentials(folder)
    secret_key = lss.credentials_secret_key(folder)
    print(f"starting Label Studio (data {folder / 'data'}, log {folder / 'data' / 'server.log'}) ...",
          file=sys.stderr, flush=True)
    with lss.running(folder / "data", creds, port, timeout=timeout, secret_key=secret_key) as srv:
        typer.echo(f"Label Studio is up at {srv.url} (started in {srv.startup_seconds:.0f} s; "
                   f"pid {srv.pid}); log in as {creds.user}, password in {folder / 'password'}")
        typer.echo("in the shell that runs allabel:")
        for line in lss.export_lines(srv):
            typer.echo(f"  {line}")
        typer.echo("next: allabel labelstudio push RUN (a selection run); Ctrl-C here stops the server")
        sys.stdout.flush()
        lss.wait_forever()
    typer.echo("Label Studio stopped; its data stays in " + str(folder))


@ls_app.command("push")
def push(run: int = typer.Argument(..., help="Selection run id."), url: str | None = URL) -> None:
    """Create (or find) the run's project and add the sentences still to annotate, pre-annotated
    by the LLM; pushing again adds only what the project lacks."""

    r = do_push(run, url)
    what = "created" if r.created_project else "found"
    done = f" ({r.added_done} of them annotated already: added as done)" if r.added_done else ""
    typer.echo(f"project {r.project_id} {what}: {r.added} tasks added{done}, {r.present} already there")
    if r.marked_done:
        typer.echo(f"{r.marked_done} open tasks marked done: their sentences were annotated by "
                   f"allabel import")
    typer.echo(f"next: annotate in Label Studio, then: allabel labelstudio pull {run}")


@ls_app.command("pull")
def pull(
    run: int = typer.Argument(..., help="Selection run id."),
    url: str | None = URL,
    annotator: str | None = typer.Option(None, "--annotator",
                                         help="Who annotated, when Label Studio gives no e-mail."),
) -> None:
    """Store the project's annotations for the run (validated, one transaction; idempotent)."""

    r = do_pull(run, url, annotator=annotator)
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    typer.echo(f"pulled annotations of {r.sentences} sentences into run {run} ({r.written} new or changed)")
    typer.echo(after_pull(run))


def after_pull(run: int) -> str:
    """The next line after a pull: more to annotate, resume the selection, or predict."""

    p = run_progress(run)
    todo = p["selected"] - p["annotated"]
    if todo:
        return (f"next: {todo} of {p['selected']} sentences of run {run} still to annotate in Label "
                f"Studio; then allabel labelstudio pull {run} again")
    if p["status"] == "awaiting_annotation":
        return f"next: every pick is annotated: allabel select --resume {run}"
    return next_step(run, p["status"])


@ls_app.command("config")
def config(dataset: str = typer.Option(..., "--dataset")) -> None:
    """Print the labeling config for a dataset's labels (Settings > Labeling Interface > Code)."""

    typer.echo(dataset_config(dataset), nl=False)
