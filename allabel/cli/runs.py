"""``allabel runs``: every run with its true state (runs without a live holder are reconciled
to ``interrupted`` first)."""

from __future__ import annotations

import json

import typer

from allabel.store import db


def register(app: typer.Typer) -> None:
    app.command("runs")(runs_cmd)


def runs_cmd(
    status: str | None = typer.Option(None, "--status", help="Only runs in this state."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Runs (selection and prediction) with their state, holder and progress."""
    from allabel.store.runs import list_runs

    with db.connection() as conn:
        rows = list_runs(conn, status)
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    if not rows:
        typer.echo("no runs yet")
        return
    typer.echo(f"{'run':>4} {'kind':<10} {'dataset':<12} {'status':<19} {'predicted':>9} "
               f"{'pending':>7} {'failed':>6} {'selected':>8}  error")
    for r in rows:
        err = (r["error"] or "").splitlines()[0][:60] if r["error"] else ""
        typer.echo(f"{r['id']:>4} {r['kind']:<10} {r['dataset'][:12]:<12} {r['status']:<19} "
                   f"{r['predicted']:>9} {r['pending']:>7} {r['failed']:>6} {r['selected']:>8}  {err}")
