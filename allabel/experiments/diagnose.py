"""Why a strategy wins or loses: what it picked, what the LLM was shown, what stage 3 measured.

Three views of a finished (or partly finished) experiment, averaged over seeds:
* picks — per strategy, budget and stage: picks, characters, gold entities per sentence, the share
  of picks without any entity and the labels covered, beside the same figures for the pool;
* demonstrations — per cell: entities per retrieved demonstration and how many of a test
  sentence's gold entity types occur among its demonstrations' annotations;
* stage 3 — how a candidate's perplexity relates to its errors (Spearman correlation of
  perplexity with the candidate's strict F1, and F1 of the top vs the bottom half).
Everything is read from Postgres; nothing here changes a row.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row

from allabel.store.sqlfiles import queries

Q = queries("diagnose")


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [float(r[key]) for r in rows if r[key] is not None]
    return sum(vals) / len(vals) if vals else None


def pool_profile(conn: psycopg.Connection, dataset_id: int, splits: list[str]) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.pool_profile, {"dataset_id": dataset_id, "splits": splits}).fetchone()


def picks(conn: psycopg.Connection, experiment_id: int) -> list[dict[str, Any]]:
    """One row per (strategy, budget, stage), means over seeds."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.picks_profile, {"experiment_id": experiment_id}).fetchall()
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["strategy"], r["budget"], r["stage"])].append(r)
    return [{"strategy": s, "budget": b, "stage": st, "seeds": len(g),
             **{k: _mean(g, k) for k in ("picks", "chars", "entities", "share_without_entities",
                                         "labels_covered")}}
            for (s, b, st), g in sorted(groups.items())]


def demonstrations(conn: psycopg.Connection, experiment_id: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.demo_coverage, {"experiment_id": experiment_id}).fetchall()
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["strategy"], r["budget"])].append(r)
    return [{"strategy": s, "budget": b, "seeds": len(g),
             **{k: _mean(g, k) for k in ("demo_entities", "type_coverage", "all_types_shown")}}
            for (s, b), g in sorted(groups.items())]


def _f1(gold: int, predicted: int, correct: int) -> float:
    return 1.0 if gold + predicted == 0 else 2 * correct / (gold + predicted)


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def stage3(conn: psycopg.Connection, experiment_id: int) -> list[dict[str, Any]]:
    """Per (strategy, budget): candidates scored, share with a perplexity, Spearman(perplexity,
    F1), F1 of the more and the less perplexing half, entities of the two halves."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.stage3_scores, {"experiment_id": experiment_id}).fetchall()
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["strategy"], r["budget"])].append(r)
    out = []
    for (s, b), g in sorted(groups.items()):
        known = [r for r in g if r["perplexity"] is not None]
        ppl = np.array([r["perplexity"] for r in known], float)
        f1 = np.array([_f1(r["gold"], r["predicted"], r["correct"]) for r in known], float)
        gold = np.array([r["gold"] for r in known], float)
        order = np.argsort(-ppl, kind="stable")
        top, bottom = order[: len(order) // 2], order[len(order) // 2:]
        out.append({"strategy": s, "budget": b, "candidates": len(g),
                    "with_perplexity": len(known) / len(g) if g else None,
                    "spearman_ppl_f1": _spearman(ppl, f1),
                    "f1_high_ppl": float(f1[top].mean()) if len(top) else None,
                    "f1_low_ppl": float(f1[bottom].mean()) if len(bottom) else None,
                    "gold_high_ppl": float(gold[top].mean()) if len(top) else None,
                    "gold_low_ppl": float(gold[bottom].mean()) if len(bottom) else None})
    return out


def markdown(conn: psycopg.Connection, experiment_id: int, dataset_id: int,
             pool_splits: list[str]) -> str:
    """The three views as Markdown tables (for docs/results.md and the report)."""
    def fmt(v: Any) -> str:
        return "–" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))

    def table(rows: list[dict[str, Any]], cols: list[str]) -> list[str]:
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
        return lines

    pool = pool_profile(conn, dataset_id, pool_splits)
    out = [f"Pool ({', '.join(pool_splits)}): {pool['sentences']} sentences, "
           f"{float(pool['chars']):.0f} characters, {float(pool['entities']):.2f} gold entities per "
           f"sentence, {float(pool['share_without_entities']):.0%} without any entity.", "",
           "**What each strategy and stage picked** (means over seeds)", ""]
    out += table(picks(conn, experiment_id), ["strategy", "budget", "stage", "picks", "chars", "entities",
                                             "share_without_entities", "labels_covered"])
    out += ["", "**What the LLM was shown** (test sentences: entities per demonstration; share of the "
            "sentence's gold entity types present among its demonstrations; share with all present)", ""]
    out += table(demonstrations(conn, experiment_id), ["strategy", "budget", "demo_entities",
                                                      "type_coverage", "all_types_shown"])
    s3 = stage3(conn, experiment_id)
    if s3:
        out += ["", "**Stage 3: does perplexity point at errors?** (candidates scored; Spearman "
                "correlation of perplexity with the candidate's F1 — negative means perplexing "
                "sentences are the ones the model gets wrong)", ""]
        out += table(s3, ["strategy", "budget", "candidates", "with_perplexity", "spearman_ppl_f1",
                          "f1_high_ppl", "f1_low_ppl", "gold_high_ppl", "gold_low_ppl"])
    return "\n".join(out) + "\n"
