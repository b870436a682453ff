"""``allabel experiment --rounds R --round-size N``: oracle campaigns that prove the loop.

Per strategy and seed, R rounds on the gold corpus: round r is a selection of N (a count, share or
token budget) that excludes the picks of rounds 1..r-1 of the same chain only
(``SelectParams.after_runs``: the experiment's chains on one dataset stay independent of each
other), annotated by the oracle; after each round the test sample is predicted with the
demonstrations of rounds 1..r (their union: prediction source ``runs:<ids>``) and scored. The
report gives the true learning curve (test F1 per round, against sentences and tokens annotated),
the gain of each round with a paired bootstrap interval on the same test sentences, and where the
stopping rule (allabel/select/stopping.py) said stop. The rule reads here the *test* F1, because
this branch has no ``allabel quality`` estimate (issue 28): the estimated curve is a blank column
with a hook (``round_report.quality_after``), and what the rule would do on an estimate is
bounded by what it does on the truth.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from psycopg.rows import dict_row

from allabel.core.progress import note
from allabel.experiments import stats
from allabel.experiments.cell import predict_sample
from allabel.experiments.evaluate import sentence_counts
from allabel.predict import DemoPool
from allabel.select import stopping
from allabel.select.params import SelectParams
from allabel.select.run import select
from allabel.select.strategies import make_strategy
from allabel.select.variants import split_variant
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("rounds")
QR = queries("experiment_rounds")


def chain_demos(conn, dataset_id: int, chain: tuple[int, ...]) -> DemoPool:
    """The demonstrations of a chain's rounds so far: every annotation of its runs."""
    with conn.cursor(row_factory=dict_row) as cur:
        return DemoPool._load(dataset_id, "runs:" + ",".join(map(str, chain)),
                              cur.execute(Q.campaign_demos, {"dataset_id": dataset_id,
                                                             "after_runs": list(chain)}))


def run_rounds(p: Any, url: str, exp_id: int, ds: int, sample: list[int], backend: Any,
               show_progress: bool, workers: int = 1) -> int:
    """Every (strategy, seed) chain of ``p.rounds`` rounds, round by round. A finished round is
    found again by its identity (its selection and prediction runs are done), so it costs
    nothing but the look-up."""

    chains: dict[tuple[str, int], list[int]] = {
        (s, seed): [] for seed in range(p.seeds) for s in p.strategies
        if make_strategy(split_variant(s)[0]).takes_budget}
    # round by round across the chains, so a stopped experiment has whole rounds to compare
    for r in range(1, p.rounds + 1):
        for (strategy, seed), chain in chains.items():
            started = time.monotonic()
            base, variant = split_variant(strategy)
            sel = select(SelectParams(p.dataset, p.round_size, base, seed=seed, oracle=True,
                                      knn=p.knn, k=p.k,
                                      uncertainty_candidates=p.uncertainty_candidates,
                                      pool_splits=p.pool_splits, after_runs=list(chain),
                                      **variant), url, show_progress=False, workers=workers)
            chain.append(sel.run_id)
            done_so_far = tuple(chain)
            pool, pred, f1 = predict_sample(
                url, ds, p.test_split, p.k, backend, sample, workers,
                lambda conn, c=done_so_far: chain_demos(conn, ds, c))
            with db.connection(url) as conn:
                conn.execute(QR.finish_round, {"experiment_id": exp_id, "strategy": strategy,
                                               "seed": seed, "round": r,
                                               "selection_run_id": sel.run_id,
                                               "prediction_run_id": pred, "f1": f1})
                conn.commit()
            note(f"experiment {exp_id}: {strategy} seed {seed} round {r}: {len(pool.demos)} "
                 f"annotated, F1 {f1:.3f}, {time.monotonic() - started:.0f} s", show=show_progress)
    with db.connection(url) as conn:
        conn.execute(queries("experiment").finish, {"experiment_id": exp_id, "status": "done"})
        conn.commit()
    return exp_id


def curves(conn, exp_id: int, sample: list[int], url: str | None = None, min_gain: float = 0.01,
           resamples: int = 2000) -> list[dict[str, Any]]:
    """Per strategy and round: cumulative sentences and tokens (mean over seeds), test F1 with its
    bootstrap interval, the gain over the previous round (paired, same test sentences and
    seeds), the estimated quality (blank: the hook), the verdict and where the signal stopped."""
    rows = db.rows(conn, QR.rounds, {"experiment_id": exp_id})
    counts = sentence_counts([r["prediction_run_id"] for r in rows], url)
    by: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for r in rows:
        by.setdefault(r["strategy"], {}).setdefault(r["round"], []).append(r)
    out = []
    for strategy, per_round in sorted(by.items()):
        arrays, gains, lines = {}, [], []
        for rnd in sorted(per_round):
            cell = sorted(per_round[rnd], key=lambda x: x["seed"])
            arrays[rnd] = np.array([[counts[c["prediction_run_id"]][s] for s in sample]
                                    for c in cell], np.int64)
            f1 = stats.f1_interval(arrays[rnd], resamples)
            gain = None
            if rnd - 1 in arrays and arrays[rnd - 1].shape == arrays[rnd].shape:
                d = stats.paired_difference(arrays[rnd], arrays[rnd - 1], resamples)
                gain = stopping.Gain(d.estimate, d.low, d.high)
            gains.append(gain)
            lines.append({"strategy": strategy, "round": rnd, "seeds": len(cell),
                          "sentences": float(np.mean([c["sentences"] for c in cell])),
                          "tokens": float(np.mean([c["tokens"] for c in cell])),
                          "f1": f1.estimate, "f1_low": f1.low, "f1_high": f1.high,
                          "estimated_quality": None,
                          "gain": None if gain is None else gain.estimate,
                          "gain_low": None if gain is None else gain.low,
                          "gain_high": None if gain is None else gain.high})
        verdicts = stopping.verdicts(gains, min_gain)
        stop = stopping.first_stop(verdicts)
        for line, v in zip(lines, verdicts, strict=True):
            line["verdict"] = v
            line["stopped_here"] = stop == line["round"]
        out.extend(lines)
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    """The round curves as a markdown table."""
    head = ("| strategy | round | seeds | sentences | tokens | test F1 [95%] | gain [95%] | "
            "estimated quality | verdict |\n|---|---|---|---|---|---|---|---|---|")
    body = []
    for r in rows:
        gain = "" if r["gain"] is None else f"{r['gain']:+.3f} [{r['gain_low']:+.3f}, {r['gain_high']:+.3f}]"
        verdict = r["verdict"] + (" **(first stop)**" if r["stopped_here"] else "")
        body.append(f"| {r['strategy']} | {r['round']} | {r['seeds']} | {r['sentences']:.0f} | "
                    f"{r['tokens']:.0f} | {r['f1']:.3f} [{r['f1_low']:.3f}, {r['f1_high']:.3f}] | "
                    f"{gain} | | {verdict} |")
    return "\n".join([head, *body])
