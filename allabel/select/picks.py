"""What ``allabel select`` prints before a person spends time (issue 30): every pick still to
annotate, with its stage and the reason it was chosen (the stage's score), so that a heading, a
duplicate or a sentence whose LLM answer could not be parsed is seen before it is paid for."""

from __future__ import annotations

import math

import psycopg

from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("select_sparse")

#: what each stage's score means (selections.score)
REASONS = {
    "diversity": "highest similarity to the earlier picks",
    "similarity": "kNN credit",
    "uncertainty": "uncertainty",
    "random": "random draw",
    "full": "the whole pool",
}
SHOWN = 50  # picks printed; the rest are counted (the view annotation_queue lists them all)


def _reason(stage: str, score: float | None, parse_status: str | None, n_entities: int | None) -> str:
    what = REASONS.get(stage, stage)
    if score is None:
        text = what
    elif math.isinf(score):
        text = f"{what} inf"
    else:
        text = f"{what} {score:.3g}"
    if stage == "uncertainty" and parse_status is not None:
        text += (", answer unparseable" if parse_status == "unparseable"
                 else f", answer names {n_entities or 0} entities")
    return text


def pick_lines(conn: psycopg.Connection, run_id: int, width: int = 90) -> list[str]:
    """One line per pick not yet annotated: ``rank stage (reason): text``, at most SHOWN."""
    rows = [r for r in db.rows(conn, Q.picks, {"run_id": run_id}) if not r["annotated"]]
    out = []
    for r in rows[:SHOWN]:
        text = r["text"] if len(r["text"]) <= width else r["text"][:width - 1] + "…"
        why = _reason(r["stage"], r["score"], r["parse_status"], r["n_entities"])
        out.append(f"  {r['rank']:>4} {r['stage']} ({why}): {text}")
    if len(rows) > SHOWN:
        out.append(f"  … {len(rows) - SHOWN} more: SELECT * FROM allabel.annotation_queue WHERE run_id = {run_id}")
    return out
