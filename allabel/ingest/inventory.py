"""What the database holds: datasets, their labels, splits and gold counts (``allabel datasets``),
and the dataset a run belongs to. Read-only; the CLI formats what these functions return."""

from __future__ import annotations

from typing import Any

from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("inventory")


def inventory(url: str | None = None) -> dict[str, dict[str, Any]]:
    """``{dataset: {"labels": {label: description}, "splits": {split: {"sentences", "tokens",
    "embedded", "entities": {label: n}}}}}``, datasets and splits in name order."""
    with db.connection(url) as conn:
        out: dict[str, dict[str, Any]] = {r["name"]: {"labels": {}, "splits": {}}
                                          for r in db.rows(conn, Q.datasets)}
        for r in db.rows(conn, Q.labels):
            out[r["dataset"]]["labels"][r["label"]] = r["description"]
        for r in db.rows(conn, Q.splits):
            out[r["dataset"]]["splits"][r["split"]] = {
                "sentences": r["sentences"], "tokens": int(r["tokens"] or 0),
                "embedded": r["embedded"], "entities": {}}
        for r in db.rows(conn, Q.gold_by_label):
            out[r["dataset"]]["splits"][r["split"]]["entities"][r["label"]] = r["entities"]
    return out


def run_dataset(run_id: int, url: str | None = None) -> tuple[str, list[str]]:
    """(dataset name, its splits) of a run, for the CLI's "next:" line."""
    with db.connection(url) as conn:
        row = db.one(conn, Q.run_dataset, {"run_id": run_id})
    if row is None:
        from allabel.core.errors import ConfigError

        raise ConfigError(f"no run {run_id}")
    return row["dataset"], row["splits"]
