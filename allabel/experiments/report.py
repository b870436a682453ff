"""The experiment report: Markdown + HTML + a PNG plot of F1 against budget per strategy.

Answers "does ALLabel pay off?": per budget, each strategy's F1 and its difference to random
with 95% paired bootstrap intervals over the test sentences (allabel/experiments/stats.py) and whether the
interval excludes 0; then F1 mean ± std per strategy and budget, annotation cost (sentences and
tokens annotated), LLM cost (calls and tokens), and the gap to ``full``.
"""

from __future__ import annotations

import html
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError
from allabel.experiments import stats
from allabel.experiments.evaluate import require_finished, sentence_counts
from allabel.experiments.experiment import experiment_sample, results
from allabel.select.strategies import FULL, WHOLE_POOL
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("experiment")


def _budget_key(b: str) -> tuple[int, float]:
    if b == WHOLE_POOL:
        return (2, 0.0)
    return (0, float(b[:-1])) if b.endswith("%") else (1, float(b))


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["strategy"], r["budget"])].append(r)
    full = [r["f1"] for r in rows if r["strategy"] == FULL]
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


Cell = tuple[str, str, int]


def cell_counts(conn, exp_id: int, url: str | None = None) -> tuple[list[int], dict[Cell, np.ndarray]]:
    """The experiment's fixed test sample and, per finished cell, its (n, 3) per-sentence tp, fp,
    fn on exactly that sample, in sample order (rows align across cells, which pairing needs)."""
    sample = experiment_sample(conn, exp_id)
    done = db.rows(conn, Q.done_cells, {"experiment_id": exp_id})
    counts = sentence_counts([r["prediction_run_id"] for r in done], url)
    out: dict[Cell, np.ndarray] = {}
    for r in done:
        strategy, budget, seed, run = r["strategy"], r["budget"], r["seed"], r["prediction_run_id"]
        per = counts[run]
        require_finished(run, sample, per, where=f"experiment {exp_id}, cell {strategy} {budget} seed {seed}: ")
        out[(strategy, budget, seed)] = np.array([per[sid] for sid in sample], dtype=np.int64).reshape(-1, 3)
    return sample, out


METHOD = "allabel"
SINGLE_STAGES = ("coreset", "similarity", "uncertainty")


def method_reference(strategy: str) -> str | None:
    """What an ablation or method variant is measured against, besides random: the whole method
    with the same ``+variant`` suffixes (``allabel:DS+long`` against ``allabel+long``, ``coreset``
    against ``allabel``), so a row changes one thing at a time; a variant of the method itself
    (``allabel+long``) against the paper's ``allabel``. None for random, full and ``allabel``."""
    base, plus, suffix = strategy.partition("+")
    if base == METHOD:
        return METHOD if plus else None
    if base.startswith(METHOD + ":") or base in SINGLE_STAGES:
        return METHOD + plus + suffix
    return None


def intervals(counts: dict[Cell, np.ndarray], resamples: int = stats.RESAMPLES,
              seed: int = stats.SEED) -> list[dict[str, Any]]:
    """Per (strategy, budget): F1 (mean over seeds) with its interval and, against random of the
    same budget, the paired difference over the seeds both have (``diff``); ablations (single
    stages, allabel:<stages>) and variants also against the method (``diff_method``, see
    ``method_reference``). All on the same resamples."""
    by: dict[tuple[str, str], dict[int, np.ndarray]] = defaultdict(dict)
    for (strategy, budget, s), a in counts.items():
        by[(strategy, budget)][s] = a
    # resample every system once: same (n, resamples, seed) -> same resamples for all systems,
    # so a paired difference is a difference of columns (seed -> column)
    boot = {}
    for key, per_seed in by.items():
        seeds = sorted(per_seed)
        whole, samples = stats.seed_f1_samples(np.stack([per_seed[x] for x in seeds]), resamples, seed)
        boot[key] = {x: (whole[i], samples[:, i]) for i, x in enumerate(seeds)}

    def versus(key: tuple[str, str], ref: tuple[str, str]) -> tuple[stats.Interval | None, int]:
        common = sorted(set(boot[key]) & set(boot.get(ref, {})))
        if not common:
            return None, 0
        whole = np.array([boot[key][x][0] - boot[ref][x][0] for x in common])
        samples = np.stack([boot[key][x][1] - boot[ref][x][1] for x in common], axis=1)
        return stats.interval_of_mean(whole, samples), len(common)

    out = []
    for (strategy, budget), per_seed in by.items():
        key = (strategy, budget)
        f1 = stats.interval_of_mean(np.array([w for w, _ in boot[key].values()]),
                                    np.stack([smp for _, smp in boot[key].values()], axis=1))
        diff, paired = (None, 0) if strategy == "random" else versus(key, ("random", budget))
        ref = method_reference(strategy)
        diff_m, paired_m = versus(key, (ref, budget)) if ref else (None, 0)
        out.append({"strategy": strategy, "budget": budget, "seeds": len(per_seed), "f1": f1,
                    "diff": diff, "paired_seeds": paired, "method_reference": ref,
                    "diff_method": diff_m, "paired_seeds_method": paired_m})
    return sorted(out, key=lambda r: (_budget_key(r["budget"]), r["strategy"] != "random",
                                      r["strategy"]))


def restrict(sample: list[int], counts: dict[Cell, np.ndarray],
             keep: set[int]) -> tuple[list[int], dict[Cell, np.ndarray]]:
    """The sample and every cell's per-sentence counts cut down to the sentences in ``keep``, in
    sample order (rows stay aligned across cells). For a test sample enlarged after the fact:
    the sentences no strategy had been scored on are an estimate nobody could have looked at."""
    rows = np.array([i for i, sid in enumerate(sample) if sid in keep], dtype=np.int64)
    return [sample[i] for i in rows], {cell: a[rows] for cell, a in counts.items()}


def _ci(i: stats.Interval, sign: bool = False) -> str:
    f = "+.3f" if sign else ".3f"
    return f"{i.estimate:{f}} [{i.low:{f}}, {i.high:{f}}]"


def _diff_cell(r: dict[str, Any], key: str, paired_key: str) -> tuple[str, str]:
    d = r[key]
    paired = "" if r[paired_key] == r["seeds"] else f" ({r[paired_key]} paired seeds)"
    return _ci(d, sign=True) + paired, d.verdict()


def intervals_table(rows: list[dict[str, Any]]) -> str:
    head = ("| budget | strategy | seeds | F1 [95% CI] | F1 − random [95% CI] | interval excludes 0 |\n"
            "|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        if r["strategy"] == "random":
            diff, verdict = "(reference)", ""
        elif r["diff"] is None:
            diff, verdict = "no random run of this budget" if r["budget"] != WHOLE_POOL else "", ""
        else:
            diff, verdict = _diff_cell(r, "diff", "paired_seeds")
        lines.append(f"| {r['budget']} | {r['strategy']} | {r['seeds']} | {_ci(r['f1'])} | {diff} | "
                     f"{verdict} |")
    return head + "\n".join(lines) + "\n"


def ablations_table(rows: list[dict[str, Any]]) -> str | None:
    """Each ablation or variant against its whole method (``method_reference``) of the same
    budget; None when no experiment row has both."""
    rows = [r for r in rows if r["diff_method"] is not None]
    if not rows:
        return None
    head = ("| budget | strategy | against | seeds | F1 [95% CI] | F1 − against [95% CI] | "
            "interval excludes 0 |\n|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        diff, verdict = _diff_cell(r, "diff_method", "paired_seeds_method")
        lines.append(f"| {r['budget']} | {r['strategy']} | {r['method_reference']} | {r['seeds']} | "
                     f"{_ci(r['f1'])} | {diff} | {verdict} |")
    return head + "\n".join(lines) + "\n"


def _short_model(model: Any) -> str:
    text = str(model or "")
    return Path(text).name if "/" in text else text


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """F1 against budget per strategy with 95% bootstrap intervals as error bars; ``full`` as a
    dashed line with its interval as a band; the y-axis starts at 0 so gaps are not exaggerated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    budgets = sorted({r["budget"] for r in rows if r["budget"] != WHOLE_POOL}, key=_budget_key)
    xs = {b: i for i, b in enumerate(budgets)}
    curves = sorted({r["strategy"] for r in rows if r["budget"] != WHOLE_POOL})
    width = min(0.3, 0.06 * len(curves))  # spread the strategies a little so bars don't overlap
    top = 0.0
    for j, strategy in enumerate(curves):
        pts = sorted((r for r in rows if r["strategy"] == strategy and r["budget"] != WHOLE_POOL),
                     key=lambda r: xs[r["budget"]])
        off = (j - (len(curves) - 1) / 2) * (width / max(len(curves) - 1, 1))
        est = np.array([r["f1"].estimate for r in pts])
        lo = np.array([r["f1"].low for r in pts])
        hi = np.array([r["f1"].high for r in pts])
        top = max(top, float(hi.max()))
        ax.errorbar([xs[r["budget"]] + off for r in pts], est, yerr=[est - lo, hi - est],
                    marker="o", capsize=3, label=strategy)
    for r in rows:
        if r["budget"] == WHOLE_POOL:
            f = r["f1"]
            ax.axhline(f.estimate, color="black", ls="--", lw=1, label="full (all annotated)")
            ax.axhspan(f.low, f.high, color="black", alpha=0.08, lw=0)
            top = max(top, f.high)
    ax.set_xticks(range(len(budgets)), budgets)
    ax.set_xlabel("annotation budget")
    ax.set_ylabel("entity F1 (strict, micro)")
    ax.set_ylim(0, max(0.05, top * 1.1))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _html_table(table: str) -> str:
    lines = table.splitlines()
    heads = "".join(f"<th>{html.escape(c.strip())}</th>" for c in lines[0].strip("|").split("|"))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in line.strip("|").split("|"))
        + "</tr>" for line in lines[2:])
    return f"<table border=1 cellpadding=4><tr>{heads}</tr>{body}</table>"


@dataclass
class _Experiment:
    """What a report is made of, read in one connection."""

    id: int
    dataset: str
    params: dict[str, Any]
    status: str
    created: Any
    rows: list[dict[str, Any]]     # finished cells (experiment.results)
    sample: list[int]              # the fixed test sample
    counts: dict[Cell, np.ndarray]  # per cell, per-sentence tp/fp/fn on the sample


def _load(experiment: str) -> _Experiment:
    """The experiment (an id or ``latest``) with its finished cells; clear errors when there is
    nothing to report."""
    with db.connection() as conn:
        exp_id = (db.scalar(conn, Q.latest) if experiment == "latest" else int(experiment))
        if exp_id is None:
            raise ConfigError("no experiment yet (allabel experiment ...)")
        meta = db.one(conn, Q.get, {"experiment_id": exp_id})
        if meta is None:
            raise ConfigError(f"no experiment {exp_id}")
        rows = results(conn, exp_id)
        if not rows:
            raise ConfigError(f"experiment {exp_id} has no finished cell yet")
        sample, counts = cell_counts(conn, exp_id)
    status = meta["status"]
    if meta["done"] < meta["cells"]:
        status = (f"unfinished, {meta['done']} of {meta['cells']} cells done (the tables show those; "
                  "the same `allabel experiment` command continues it)")
    return _Experiment(exp_id, meta["dataset"], meta["params"], status, meta["created_at"], rows,
                       sample, counts)


def _sections(e: _Experiment, resamples: int, seed: int, with_ablations: bool) -> dict[str, str]:
    """The report's prose: intro (with its heading), then the text of each table's section."""
    params, n, seeds = e.params, len(e.sample), e.params.get("seeds")
    intro = (f"# Experiment {e.id}: does ALLabel pay off on {e.dataset}?\n\n"
             f"Status: {e.status}; created {e.created:%Y-%m-%d %H:%M}. Model: {params.get('backend')} "
             f"{params.get('model')}; k = {params.get('k')} demonstrations; test sample: "
             f"{n} sentences of the {params.get('test_split', 'test')} split "
             f"({'all of it' if not params.get('test_sample') else 'a fixed random sample'}), the "
             f"same for every cell; seeds: {seeds}.\n\n")
    ci_text = ("## F1 and the difference to random, with 95% intervals\n\n"
               f"Paired bootstrap over the {n} test sentences ({resamples:,} resamples, seed {seed}): "
               "each resample draws the test sentences with replacement and scores every run on "
               "it; a strategy's F1 is the mean over its seeds of the micro F1 of each seed's run, "
               "and its difference to random pairs its seed-s run with random's seed-s run on the "
               "same resample. An interval that excludes 0 means the difference is larger than "
               "the choice of test sentences explains; it does not cover other seeds than these.\n\n")
    cost_text = ("## Cost and spread over seeds\n\n"
                 "F1 is entity-level strict match (micro over labels); partial F1 counts overlapping "
                 "same-label spans. Annotation cost is what the strategy asked a person to annotate; "
                 "LLM cost counts calls actually made (cache hits are free) for selection and "
                 "prediction. Gap to full = F1(full) − F1.\n\n")
    abl_text = ("## Ablations against the whole method\n\n"
                "Each single stage and each allabel:<stages> ablation minus the whole method with "
                "the same options (`allabel:DS+long` against `allabel+long`), and each option of "
                "the method minus the paper's `allabel`, of the same budget, paired by seed on "
                "the same resamples: a negative difference that excludes 0 means the stages left "
                "out (or the order) matter.\n\n") if with_ablations else ""
    return {"intro": intro, "ci": ci_text, "cost": cost_text, "ablations": abl_text}


def _body(text: str) -> str:
    """A section's text without its Markdown heading line, HTML-escaped."""
    return html.escape(text.split("\n", 2)[2].strip())


def _write_files(out: Path, e: _Experiment, sec: dict[str, str], ci_table: str, abl_table: str | None,
                 table: str) -> None:
    (out / "report.md").write_text(sec["intro"] + sec["ci"] + ci_table + "\n"
                                   + (sec["ablations"] + abl_table + "\n" if abl_table else "")
                                   + sec["cost"] + table
                                   + "\n![F1 against budget with 95% intervals](f1.png)\n")
    (out / "report.html").write_text(
        f"<!doctype html><meta charset=utf-8><title>allabel experiment {e.id}</title>"
        f"<h1>Experiment {e.id}: {html.escape(e.dataset)}</h1>"
        f"<p>{_body(sec['intro'])}</p>"
        f"<h2>F1 and the difference to random, with 95% intervals</h2>"
        f"<p>{_body(sec['ci'])}</p>{_html_table(ci_table)}"
        + (f"<h2>Ablations against the whole method</h2><p>{_body(sec['ablations'])}</p>"
           f"{_html_table(abl_table)}" if abl_table else "")
        + f"<h2>Cost and spread over seeds</h2><p>{_body(sec['cost'])}</p>"
        f"{_html_table(table)}<p><img src='f1.png' alt='F1 against budget with 95% intervals'></p>")


def write_report(experiment: str, out_dir: Path | None = None, resamples: int = stats.RESAMPLES,
                 seed: int = stats.SEED) -> tuple[Path, str]:
    """Write report.md, report.html and f1.png under ``out_dir`` (default
    $ALLABEL_HOME/reports/experiment-ID, never the working directory); returns (folder,
    markdown tables)."""
    e = _load(experiment)
    table = markdown_table(summarise(e.rows))
    ci_rows = intervals(e.counts, resamples, seed)
    ci_table = intervals_table(ci_rows)
    abl_table = ablations_table(ci_rows)
    out = out_dir or get_settings().home / "reports" / f"experiment-{e.id}"
    out.mkdir(parents=True, exist_ok=True)
    seeds = e.params.get("seeds")
    model = f"{e.params.get('backend')} {_short_model(e.params.get('model'))}"
    plot(ci_rows, out / "f1.png",
         f"{e.dataset}: strict micro F1 against annotation budget\n{model}, k = {e.params.get('k')}, "
         f"{len(e.sample)} test sentences, {seeds} seed{'s' if seeds != 1 else ''}; bars: 95% bootstrap CI")
    _write_files(out, e, _sections(e, resamples, seed, abl_table is not None), ci_table, abl_table, table)
    return out, ci_table + "\n" + (abl_table + "\n" if abl_table else "") + table
