"""``allabel rounds --dataset D``: the campaign's rounds, what each cost, and whether to go on.

A round is a selection run of the dataset that is part of its campaign: every selection made by
the command line without ``--allow-annotated`` (and runs made before rounds existed), oldest
first; an experiment's independent selections and its oracle chains are not. Per round: picks,
tokens (``allabel.sentence_tokens``), annotated picks, the quality estimate after the round, the
LLM calls and money of the round's selection (stage 3), the gain over the previous round with its
interval, the cost per +0.01 F1 (annotation tokens and money) and the stopping verdict
(stopping.py).
"""

from __future__ import annotations

from typing import Any

import psycopg

from allabel.llm.cache import usage
from allabel.select import stopping
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("rounds")


def quality_after(conn: psycopg.Connection, dataset_id: int, run_id: int,
                  next_run_id: int | None = None) -> tuple[float, float, float] | None:
    """The quality estimate of the labels after round ``run_id`` as (estimate, low, high): the
    micro F1 ``allabel quality`` stored last between this round's annotations and the next
    round (an audit estimate before a cross-validation one); None when none was made then."""
    row = db.one(conn, Q.quality_after_round,
                 {"dataset_id": dataset_id, "run_id": run_id, "next_run_id": next_run_id})
    if row is None:
        return None
    low = row["low"] if row["low"] is not None else row["value"]
    high = row["high"] if row["high"] is not None else row["value"]
    return row["value"], low, high


def rounds(conn: psycopg.Connection, dataset: str, min_gain: float = 0.01) -> list[dict[str, Any]]:
    """One dict per round (JSON-ready)."""
    ds = db.dataset_id(conn, dataset)
    out: list[dict[str, Any]] = []
    previous = None
    gains: list[stopping.Gain | None] = []
    listed = db.rows(conn, Q.rounds, {"dataset_id": ds})
    for n, r in enumerate(listed, start=1):
        u = usage(conn, r["run_id"])
        following = listed[n]["run_id"] if n < len(listed) else None
        quality = quality_after(conn, ds, r["run_id"], following)
        gain = stopping.gain_between(previous, quality)
        gains.append(gain)
        money = u[0]["money"] if u else 0.0
        out.append({
            "round": n, "run_id": r["run_id"], "status": r["status"], "strategy": r["strategy"],
            "budget": r["budget"], "picks": r["picks"], "tokens": int(r["tokens"]),
            "annotated": r["annotated"], "annotated_tokens": int(r["annotated_tokens"]),
            "quality": None if quality is None else quality[0],
            "quality_low": None if quality is None else quality[1],
            "quality_high": None if quality is None else quality[2],
            "llm_calls": u[0]["calls"] if u else 0, "money": money,
            "gain": None if gain is None else gain.estimate,
            "gain_low": None if gain is None else gain.low,
            "gain_high": None if gain is None else gain.high,
            "tokens_per_point": stopping.cost_per_point(float(r["tokens"]), gain),
            "money_per_point": stopping.cost_per_point(money, gain),
        })
        previous = quality
    for row, v in zip(out, stopping.verdicts(gains, min_gain), strict=True):
        row["verdict"] = v
    return out


def _num(x: Any, fmt: str) -> str:
    return "" if x is None else format(x, fmt)


def table(rows: list[dict[str, Any]]) -> str:
    """The rounds as a plain-text table (blank where a figure is unknown)."""
    head = ["round", "run", "status", "strategy", "budget", "picks", "tokens", "annotated",
            "quality", "LLM calls", "money", "gain [interval]", "tokens/+0.01", "$/+0.01", "verdict"]
    body = []
    for r in rows:
        gain = "" if r["gain"] is None else (f"{r['gain']:+.3f} [{r['gain_low']:+.3f}, "
                                              f"{r['gain_high']:+.3f}]")
        body.append([str(r["round"]), str(r["run_id"]), r["status"], r["strategy"] or "",
                     r["budget"] or "", str(r["picks"]), str(r["tokens"]), str(r["annotated"]),
                     _num(r["quality"], ".3f"), str(r["llm_calls"]),
                     "" if r["money"] is None else f"{r['money']:.4f}", gain,
                     _num(r["tokens_per_point"], ".0f"), _num(r["money_per_point"], ".4f"),
                     r["verdict"]])
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in [head, *body])
