"""The ``allabel`` command line. Each step of the data flow registers its commands from its own
module (``db``, ``corpus``, ``llm``, ``selection``, ``evaluation``); ``main`` turns our errors
into one ``error: ...`` line and a documented exit code (see README, "Exit codes").

Usage mistakes (unknown command or option, missing argument, bad value) are one line and exit 3,
like every configuration error. Typer bundles its own copy of click, so they arrive as
``typer.TyperException`` subclasses (not ``click.ClickException``); click runs with
``standalone_mode=False`` so that they reach ``main`` instead of being printed with a usage
block. Help is click's plain formatter at up to 120 columns: rich's boxes cut option names on a
narrow terminal or in a pipe.
"""

from __future__ import annotations

import logging
import sys

import psycopg
import typer

from allabel import __version__
from allabel.core.errors import AllabelError
from allabel.core.secrets import mask

USAGE_EXIT = 3
# In a pipe there is no terminal to fit: use 120 columns instead of click's fallback of 80.
CONTEXT = {"max_content_width": 120, "help_option_names": ["--help", "-h"],
           "terminal_width": None if sys.stdout.isatty() else 120}

app = typer.Typer(
    name="allabel",
    help="Pick the sentences worth annotating (ALLabel) and let an LLM label the rest, in Postgres.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"allabel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                 help="Print the version and exit."),
) -> None:
    """Pick the sentences worth annotating (ALLabel) and let an LLM label the rest, in Postgres."""


_registered = False


def _register() -> None:
    global _registered
    if _registered:
        return
    from allabel.cli import corpus, db, evaluation, labelstudio, llm, retrieval, runs, selection

    for module in (db, corpus, retrieval, llm, selection, evaluation, labelstudio, runs):
        module.register(app)
    _registered = True


def _usage_line(e: typer.TyperException) -> str:
    """``allabel ingest: Missing argument 'PATH'. (allabel ingest --help)`` on one line."""
    msg = " ".join(e.format_message().split())
    ctx = getattr(e, "ctx", None)
    if ctx is None:
        return f"error: {msg}"
    return f"error: {ctx.command_path}: {msg} (see {ctx.command_path} --help)"


def main(argv: list[str] | None = None) -> None:
    from allabel.core.progress import silence_other_bars

    silence_other_bars()
    # psycopg warns ("error ignored in rollback ...") when a lost connection cannot roll back; the
    # job's own one-line error says what happened, so those warnings would only be a second line
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    _register()
    try:
        rc = app(args=argv, prog_name="allabel", standalone_mode=False)
    except AllabelError as e:
        print(f"{e.prefix}: {mask(str(e))}", file=sys.stderr)
        sys.exit(e.exit_code)
    except psycopg.Error as e:  # a database error no job turned into ours: still one line, exit 4
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: database: {mask(first)}", file=sys.stderr)
        sys.exit(4)
    except KeyboardInterrupt:
        rc = 130
    except typer.TyperException as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # `allabel` or `allabel db` alone: the help
            ctx = e.ctx  # type: ignore[attr-defined]
            typer.echo(ctx.get_help())
            sys.exit(0)
        print(_usage_line(e), file=sys.stderr)
        sys.exit(USAGE_EXIT)
    except typer.Abort:  # EOF at a prompt
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    if rc == 130:  # typer turns Ctrl-C into Exit(130)
        print("interrupted: finished work is saved; run the same command again to continue",
              file=sys.stderr)
    if isinstance(rc, int) and rc != 0:
        sys.exit(rc)
