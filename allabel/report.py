"""The experiment report: Markdown + HTML + a PNG plot of F1 against budget per strategy.

Answers "does ALLabel pay off?": F1 mean ± std per strategy and budget, annotation cost
(sentences and tokens annotated), LLM cost (calls and tokens), and the gap to ``full``.
"""

from __future__ import annotations

import html
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from allabel import db
from allabel.errors import ConfigError
from allabel.experiment import results
from allabel.sqlfiles import queries

Q = queries("experiment")


def _budget_key(b: str) -> tuple[int, float]:
    if b == "full":
        return (2, 0.0)
    return (0, float(b[:-1])) if b.endswith("%") else (1, float(b))


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["strategy"], r["budget"])].append(r)
    full = [r["f1"] for r in rows if r["strategy"] == "full"]
    full_mean = statistics.fmean(full) if full else None
    out = []
    for (strategy, budget), rs in groups.items():
        f1s = [r["f1"] for r in rs]
        mean = statistics.fmean(f1s)
        out.append({
            "strategy": strategy, "budget": budget, "seeds": len(rs), "f1_mean": mean,
            "f1_std": statistics.stdev(f1s) if len(f1s) > 1 else 0.0,
            "partial_f1": statistics.fmean([r["partial_f1"] or 0.0 for r in rs]),
            "sentences": statistics.fmean([r["sentences"] for r in rs]),
            "tokens": statistics.fmean([r["tokens"] for r in rs]),
            "llm_calls": sum(r["calls"] for r in rs), "llm_requests": sum(r["requests"] for r in rs),
            "llm_tokens": sum(r["llm_tokens"] for r in rs),
            "gap_to_full": None if full_mean is None else full_mean - mean,
        })
    return sorted(out, key=lambda s: (_budget_key(s["budget"]), s["strategy"]))


def markdown_table(summary: list[dict[str, Any]]) -> str:
    head = ("| strategy | budget | seeds | F1 (mean ± std) | partial F1 | sentences annotated | "
            "tokens annotated | LLM calls | LLM tokens | gap to full |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for s in summary:
        gap = "" if s["gap_to_full"] is None else f"{s['gap_to_full']:+.3f}"
        spread = f" ± {s['f1_std']:.3f}" if s["seeds"] > 1 else ""  # no spread from one seed
        lines.append(f"| {s['strategy']} | {s['budget']} | {s['seeds']} | {s['f1_mean']:.3f}"
                     f"{spread} | {s['partial_f1']:.3f} | {s['sentences']:.0f} | "
                     f"{s['tokens']:.0f} | {s['llm_calls']} | {s['llm_tokens']} | {gap} |")
    return head + "\n".join(lines) + "\n"


def plot(summary: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    budgets = sorted({s["budget"] for s in summary if s["budget"] != "full"}, key=_budget_key)
    xs = {b: i for i, b in enumerate(budgets)}
    for strategy in sorted({s["strategy"] for s in summary}):
        pts = [s for s in summary if s["strategy"] == strategy]
        if strategy == "full":
            f = pts[0]
            ax.axhline(f["f1_mean"], color="black", ls="--", lw=1, label="full (all annotated)")
            continue
        pts = sorted(pts, key=lambda s: xs[s["budget"]])
        ax.errorbar([xs[s["budget"]] for s in pts], [s["f1_mean"] for s in pts],
                    yerr=[s["f1_std"] for s in pts], marker="o", capsize=3, label=strategy)
    ax.set_xticks(range(len(budgets)), budgets)
    ax.set_xlabel("annotation budget")
    ax.set_ylabel("entity F1 (strict, micro)")
    ax.set_title("F1 against budget per strategy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(experiment: str, out_dir: Path | None = None) -> tuple[Path, str]:
    """Write report.md, report.html and f1.png; returns (folder, markdown table)."""
    with db.connection() as conn:
        exp_id = (conn.execute(Q.latest).fetchone()[0] if experiment == "latest"
                  else int(experiment))
        if exp_id is None:
            raise ConfigError("no experiment yet (allabel experiment ...)")
        meta = conn.execute(Q.get, {"experiment_id": exp_id}).fetchone()
        if meta is None:
            raise ConfigError(f"no experiment {exp_id}")
        rows = results(conn, exp_id)
    if not rows:
        raise ConfigError(f"experiment {exp_id} has no finished cell yet")
    _, dataset, params, status, created, done, cells = meta
    if done < cells:
        status = (f"unfinished, {done} of {cells} cells done (the table shows those; the same "
                  "`allabel experiment` command continues it)")
    summary = summarise(rows)
    table = markdown_table(summary)
    out = out_dir or Path("reports") / f"experiment-{exp_id}"
    out.mkdir(parents=True, exist_ok=True)
    plot(summary, out / "f1.png")
    intro = (f"# Experiment {exp_id}: does ALLabel pay off on {dataset}?\n\n"
             f"Status: {status}; created {created:%Y-%m-%d %H:%M}. Model: {params.get('backend')} "
             f"{params.get('model')}; k = {params.get('k')} demonstrations; test sample: "
             f"{params.get('test_sample') or 'whole split'}; seeds: {params.get('seeds')}.\n\n"
             "F1 is entity-level strict match (micro over labels); partial F1 counts overlapping "
             "same-label spans. Annotation cost is what the strategy asked a person to annotate; "
             "LLM cost counts calls actually made (cache hits are free) for selection and "
             "prediction. Gap to full = F1(full) − F1.\n\n")
    (out / "report.md").write_text(intro + table + "\n![F1 against budget](f1.png)\n")
    rows_html = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in line.strip("|").split("|"))
        + "</tr>" for line in table.splitlines()[2:])
    heads = "".join(f"<th>{html.escape(c.strip())}</th>" for c in table.splitlines()[0].strip("|").split("|"))
    (out / "report.html").write_text(
        f"<!doctype html><meta charset=utf-8><title>allabel experiment {exp_id}</title>"
        f"<h1>Experiment {exp_id}: {html.escape(dataset)}</h1>"
        f"<p>{html.escape(intro.split(chr(10), 2)[2].strip())}</p>"
        f"<table border=1 cellpadding=4><tr>{heads}</tr>{rows_html}</table>"
        f"<p><img src='f1.png' alt='F1 against budget'></p>")
    return out, table
