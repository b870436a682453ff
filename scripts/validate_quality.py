#!/usr/bin/env python
"""Does ``allabel quality`` tell the truth? The gold corpora of data/ stand in for a team's
corpus (issue 28, "Measure and validate"); everything runs on a fresh embedded database.

Per dataset, budget and seed (a cell): the train split is the selection pool; H test sentences
(a seeded sample) are ingested as a split ``unlabelled`` — the team's unlabelled corpus, whose
gold ``quality`` never reads (it reads human annotations only; the oracle stands in for the
person). Then, as a user would (the CLI, in subprocesses):

  select --budget B --seed S --oracle (the default strategy, pool train)
  predict --split unlabelled --demos run:SEL --k K        (the run measured)
  evaluate --predictions RUN                              (the true F1 on all H sentences)
  select --strategy audit --budget A --oracle --pool-splits unlabelled
  quality --predictions RUN --calibration isotonic        (LLM calls counted)
  quality --predictions RUN                               (platt; a re-run: 0 calls)
  review --predictions RUN --budget N

and measures: (1) audit coverage — for audits of 50/100/200 sentences (D seeded draws each from
the hidden sentences, scored exactly as quality scores an audit), how often the 95% interval
covers the true F1, and its width; (2) cross-validation minus true F1 (bias); (3) AUROC and ECE
of raw and calibrated confidence on the hidden sentences outside the audit, for Platt and
isotonic; (4) errors (fp + fn against gold) per reviewed sentence in review's order against the
mean of the candidates (= the expectation of a random order of the same size); (5) LLM calls.

    .venv/bin/python scripts/validate_quality.py [--datasets bc5cdr,ncbi-disease] [--budgets 1%,5%] \\
        [--seeds 0,1,2] [--hidden 600] [--k 4] [--audit 100] [--review 50] [--draws 200] \\
        [--strategy S] [--audit-sizes 50,100,200] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from scripts.benchlib import DATA, scratch_database, script_queries  # noqa: E402

SQL = script_queries("validate_quality")

AUDIT_SIZES = (50, 100, 200)


def cli(args: list[str], log: Path) -> str:
    """Run one `allabel` command; its stdout is returned, everything goes to ``log``."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "allabel.cli", *args], capture_output=True, text=True)
    with log.open("a") as out:
        out.write(f"\n$ allabel {' '.join(args)}   ({time.perf_counter() - t:.1f} s)\n{done.stdout}{done.stderr}")
    if done.returncode:
        raise SystemExit(f"allabel {' '.join(args)} failed (exit {done.returncode}); see {log}")
    return done.stdout


def train_file(dataset: str, limit: int | None, out: Path) -> Path:
    """The train split (the selection pool), or its first ``limit`` sentences (a smoke test)."""
    if limit is None:
        return DATA / dataset / "train.tsv"
    blocks = [b for b in (DATA / dataset / "train.tsv").read_text().split("\n\n") if b.strip()]
    path = out / f"{dataset}-train-{limit}.tsv"
    path.write_text("\n\n".join(blocks[:limit]) + "\n")
    return path


def hidden_file(dataset: str, n: int, out: Path) -> Path:
    """A seeded sample of n test sentences, written as the team's unlabelled split."""
    blocks = [b for b in (DATA / dataset / "test.tsv").read_text().split("\n\n") if b.strip()]
    keep = sorted(random.Random(0).sample(range(len(blocks)), min(n, len(blocks))))
    path = out / f"{dataset}-unlabelled.tsv"
    path.write_text("\n\n".join(blocks[i] for i in keep) + "\n")
    return path


def gold_sample(conn, run_id: int, ids: list[int]):
    """The run's answers on ``ids`` scored against gold (what an oracle audit of ids would store)."""
    from allabel.quality.data import Sample, answers, labels_of, mentions
    from allabel.store import db

    truth = db.rows(conn, SQL.gold_of, {"ids": ids})
    return Sample(sorted(ids), truth, mentions(conn, run_id, ids), labels_of(conn, run_id),
                  answers(conn, run_id, ids))


def confidence_on(conn, run_id: int, ids: list[int]) -> dict[str, float | None]:
    """AUROC and ECE of raw and stored calibrated confidence on the run's mentions of ``ids``."""
    from allabel.experiments import evaluate
    from allabel.quality import calibration as cal
    from allabel.store import db

    s = gold_sample(conn, run_id, ids)
    ok = evaluate.entity_correct(s.tables()[0], s.mention_table())
    rows = db.rows(conn, SQL.calibrated_confidence, {"ids": [m["entity_id"] for m in s.mentions]})
    conf = np.array([r["confidence"] for r in rows])
    prob = np.array([r["probability"] for r in rows])
    y = np.array([ok[r["id"]] for r in rows])
    return {"mentions": len(rows), "correct": int(y.sum()), "auroc_raw": cal.auroc(conf, y),
            "auroc_cal": cal.auroc(prob, y), "ece_raw": cal.ece(conf, y), "ece_cal": cal.ece(prob, y)}


def errors(conn, run_id: int, ids: list[int]) -> dict[int, int]:
    """fp + fn against gold per sentence of ``ids``."""
    from allabel.experiments import evaluate

    s = gold_sample(conn, run_id, ids)
    gold, pred, labels, sents = s.tables()
    return {sid: fp + fn for sid, (_, fp, fn) in evaluate.per_sentence(gold, pred, labels, sents).items()}


def cell(corpus: str, budget: str, seed: int, a: argparse.Namespace, log: Path) -> dict:
    """One cell on a dataset of its own (ingested and embedded again), so that no cell's audit,
    review or annotations reach another's."""
    from allabel.experiments.evaluate import micro, score_on
    from allabel.quality.scoring import score
    from allabel.store import db

    t0 = time.perf_counter()
    dataset = f"{corpus}-{budget.replace('%', 'pct')}-s{seed}"
    cli(["ingest", str(train_file(corpus, a.train_limit, log.parent)), "--dataset", dataset, "--split", "train"], log)
    cli(["ingest", str(hidden_file(corpus, a.hidden, log.parent)), "--dataset", dataset, "--split", "unlabelled"],
        log)
    if a.strategy not in ("random", "full"):  # stages 1-2 read embeddings; random needs none
        cli(["embed", "--dataset", dataset, "--split", "train"], log)
    out = cli(["select", "--dataset", dataset, "--budget", budget, "--seed", str(seed), "--oracle",
               "--pool-splits", "train", "--k", str(a.k), *(["--strategy", a.strategy] if a.strategy else [])], log)
    sel = int(out.split()[1].rstrip(":"))
    cli(["predict", "--dataset", dataset, "--split", "unlabelled", "--demos", f"run:{sel}", "--k", str(a.k)], log)
    with db.connection() as conn:
        run = db.scalar(conn, SQL.prediction_run, {"d": f"run:{sel}"})
        hidden = [r["id"] for r in db.rows(conn, SQL.unlabelled_sentences, {"n": dataset})]
    true = micro(score_on(run, hidden))
    res: dict = {"dataset": corpus, "budget": budget, "seed": seed, "run": run, "hidden": len(hidden),
                 "true_f1": true.f1, "true_gold": true.n_gold}
    # (1) audit coverage over seeded draws of the hidden sentences
    with db.connection() as conn:
        for size in a.audit_sizes:
            if size >= len(hidden):
                continue
            cover, widths = [], []
            for d in range(a.draws):
                ids = random.Random(1000 * seed + d).sample(hidden, size)
                f1 = score(gold_sample(conn, run, ids), "audit", resamples=2000).get("f1")
                cover.append(f1.low <= true.f1 <= f1.high)
                widths.append(f1.high - f1.low)
            res[f"audit{size}"] = {"coverage": float(np.mean(cover)), "width": float(np.mean(widths)),
                                   "draws": a.draws}
    # the product path: a real audit, quality twice (isotonic, then platt), review
    cli(["select", "--dataset", dataset, "--strategy", "audit", "--budget", str(a.audit), "--seed", str(seed),
         "--oracle", "--pool-splits", "unlabelled"], log)
    with db.connection() as conn:
        audit = [r["sentence_id"] for r in db.rows(conn, SQL.latest_picks_of_stage, {"stage": "audit"})]
    rest = sorted(set(hidden) - set(audit))  # the hidden sentences quality never saw
    for method in ("isotonic", "platt"):
        q = json.loads(cli(["quality", "--dataset", dataset, "--predictions", str(run), "--calibration", method,
                            "--json"], log))
        est = {e["source"]: next(r for r in e["rows"] if r["label"] == "*" and r["metric"] == "f1")
               for e in q["estimates"]}
        res[f"quality_{method}"] = {"llm_calls": q["llm_calls"],
                                    "audit_f1": est.get("audit"), "cv_f1": est.get("cross-validation")}
        with db.connection() as conn:
            res[f"test_confidence_{method}"] = confidence_on(conn, run, rest)
    cv = res["quality_platt"]["cv_f1"]
    res["cv_minus_true"] = None if cv is None else cv["value"] - true.f1
    aud = res["quality_platt"]["audit_f1"]
    res["audit_covers"] = None if aud is None else aud["low"] <= true.f1 <= aud["high"]
    # (4) review's order against a random order of the same size
    cli(["review", "--predictions", str(run), "--budget", str(a.review), "--format", "jsonl", "--out",
         str(log.parent / f"review-{dataset}-{budget}-{seed}.jsonl")], log)
    with db.connection() as conn:
        picked = [r["sentence_id"] for r in db.rows(conn, SQL.latest_picks_of_stage, {"stage": "review"})]
        err = errors(conn, run, rest)
    res["review"] = {"n": len(picked), "errors_per_sentence": float(np.mean([err[s] for s in picked])),
                     "random_errors_per_sentence": float(np.mean(list(err.values()))),
                     "sentences_with_error": float(np.mean([err[s] > 0 for s in picked])),
                     "random_sentences_with_error": float(np.mean([v > 0 for v in err.values()]))}
    res["review"]["ratio"] = res["review"]["errors_per_sentence"] / max(res["review"]["random_errors_per_sentence"],
                                                                         1e-9)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="bc5cdr,ncbi-disease")
    ap.add_argument("--budgets", default="1%,5%")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--hidden", type=int, default=600, help="Test sentences hidden as the unlabelled split.")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--audit", type=int, default=100, help="Size of the audit quality is run with.")
    ap.add_argument("--review", type=int, default=50)
    ap.add_argument("--draws", type=int, default=200, help="Audit draws per size for the coverage.")
    ap.add_argument("--audit-sizes", type=lambda t: [int(x) for x in t.split(",")], default=list(AUDIT_SIZES),
                    help="Audit sizes of the coverage draws (default 50,100,200).")
    ap.add_argument("--strategy", default=None, help="Selection strategy (default: select's default).")
    ap.add_argument("--train-limit", type=int, default=None, help="Only the first N train sentences (smoke test).")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    out = a.out or Path(tempfile.mkdtemp(prefix="allabel-validate-quality-", dir="/tmp"))
    out.mkdir(parents=True, exist_ok=True)
    log = out / "commands.log"
    print(f"validate quality: {a.datasets} x {a.budgets} x seeds {a.seeds}; {a.hidden} hidden test sentences, "
          f"k = {a.k}, audit {a.audit}, review {a.review}; log {log}", flush=True)
    results = []
    with scratch_database():
        for dataset in a.datasets.split(","):
            for budget in a.budgets.split(","):
                for seed in (int(s) for s in a.seeds.split(",")):
                    r = cell(dataset, budget, seed, a, log)
                    results.append(r)
                    print(json.dumps(r), flush=True)
                    (out / "results.json").write_text(json.dumps(results, indent=1))
    summarize(results, a.audit_sizes)


def summarize(results: list[dict], sizes: list[int]) -> None:
    print(f"\ncell | true F1 | audit {' / '.join(map(str, sizes))}: coverage (mean width) | quality's audit covers | "
          "CV − true | AUROC raw → platt / isotonic | ECE raw → platt / isotonic | review errors/sentence "
          "vs random (ratio) | LLM calls of quality (re-run)")
    for r in results:
        aud = " / ".join(f"{r[k]['coverage']:.2f} ({r[k]['width']:.3f})" if k in r else "-"
                         for k in (f"audit{s}" for s in sizes))
        tp, ti = r["test_confidence_platt"], r["test_confidence_isotonic"]

        def f(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.3f}"
        print(f"{r['dataset']} {r['budget']} s{r['seed']} | {r['true_f1']:.3f} | {aud} | {r['audit_covers']} | "
              f"{f(r['cv_minus_true'])} | {f(tp['auroc_raw'])} → {f(tp['auroc_cal'])} / {f(ti['auroc_cal'])} | "
              f"{f(tp['ece_raw'])} → {f(tp['ece_cal'])} / {f(ti['ece_cal'])} | "
              f"{r['review']['errors_per_sentence']:.2f} vs {r['review']['random_errors_per_sentence']:.2f} "
              f"({r['review']['ratio']:.2f}x) | {r['quality_isotonic']['llm_calls']} "
              f"({r['quality_platt']['llm_calls']})")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
