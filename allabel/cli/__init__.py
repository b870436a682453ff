"""The ``allabel`` command line. Each step of the data flow registers its commands from its own
module (``db``, ``corpus``, ``llm``, ``selection``, ``evaluation``); ``main`` turns our errors
into one ``error: ...`` line and a documented exit code (see README, "Exit codes")."""

from __future__ import annotations

import sys

import typer

from allabel.errors import AllabelError

app = typer.Typer(
    name="allabel",
    help="Pick the sentences worth annotating (ALLabel) and let an LLM label the rest, in Postgres.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from allabel.cli import corpus, db, evaluation, labelstudio, llm, retrieval, selection

    for module in (db, corpus, retrieval, llm, selection, evaluation, labelstudio):
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    _register()
    try:
        rc = app(args=argv, standalone_mode=False)
    except AllabelError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted: finished work is saved; run the same command again to continue",
              file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(1)
        raise
    if isinstance(rc, int) and rc != 0:
        sys.exit(rc)
