"""The experiment runner with the real local model on a tiny configuration: an interrupted
experiment resumes to the same final table as an uninterrupted one, and the report is written."""

from __future__ import annotations

from dataclasses import replace

import pytest

from allabel.core.config import get_settings
from allabel.experiments.experiment import ExperimentParams, results, run_experiment
from allabel.experiments.experiment import test_sample as fixed_test_sample
from allabel.experiments.report import cell_counts, intervals, summarise, write_report
from allabel.store.db import connection as db_connection
from tests.select_fixtures import small_corpus

PARAMS = ExperimentParams(dataset="bc", budgets=["3", "6"], strategies=["random", "coreset", "full"],
                          seeds=1, test_sample=2, k=1, pool_splits=["train"])


@pytest.fixture()
def corpus(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ALLABEL_LLM_MAX_TOKENS", "16")
    get_settings.cache_clear()
    small_corpus(tmp_path, sizes=(("train", 30), ("test", 6)))
    yield
    get_settings.cache_clear()


def table(conn, exp_id):
    return [(r["strategy"], r["budget"], r["seed"], round(r["f1"], 9), r["sentences"])
            for r in results(conn, exp_id)]


def test_interrupted_experiment_resumes_to_the_same_table(conn, corpus, tmp_path):
    exp = run_experiment(PARAMS, show_progress=False, max_cells=2)  # "killed" after two cells
    states = conn.execute("SELECT status FROM experiment_cells WHERE experiment_id = %s", (exp,)).fetchall()
    assert sorted(s for (s,) in states) == ["done", "done", "pending", "pending", "pending"]
    # cells run full first, then the smallest budget: the two done are the reference and a 3
    done = conn.execute("SELECT strategy, budget FROM experiment_cells WHERE experiment_id = %s "
                        "AND status = 'done' ORDER BY strategy", (exp,)).fetchall()
    assert done == [("coreset", "3"), ("full", "full")]
    (tmp_path / "partial").mkdir()
    report = (write_report(str(exp), tmp_path / "partial")[0] / "report.md").read_text()
    assert "unfinished, 2 of 5 cells done" in report
    assert run_experiment(PARAMS, show_progress=False) == exp  # same parameters, same experiment
    resumed = table(conn, exp)
    assert len(resumed) == 5
    calls_resumed = conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
    # no prompt was asked twice across the interruption
    assert conn.execute("SELECT count(*) FROM run_llm_requests WHERE NOT cache_hit").fetchone()[0] \
        == calls_resumed

    # the same experiment from scratch (runs and results gone, the LLM cache kept): same table
    conn.execute("DELETE FROM experiments")
    conn.execute("DELETE FROM runs")
    conn.commit()
    exp2 = run_experiment(PARAMS, show_progress=False)
    assert table(conn, exp2) == resumed
    assert conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == calls_resumed

    out, md = write_report(str(exp2), tmp_path / "rep")
    assert (out / "f1.png").stat().st_size > 1000 and (out / "report.html").exists()
    assert "| full | full | 1 |" in md and "gap to full" in md
    s = {(x["strategy"], x["budget"]): x for x in summarise(results(conn, exp2))}
    # every cell's F1, and every gap to full, agree with F1 recomputed here from the stored
    # predictions and the gold of the test sample (strict: same sentence, span and label)
    f1 = {(st, b): strict_f1(conn, pred) for st, b, pred in conn.execute(
        "SELECT strategy, budget, prediction_run_id FROM experiment_cells WHERE experiment_id = %s",
        (exp2,)).fetchall()}
    assert len(f1) == 5 and len({n for _, n in f1.values()}) == 1 and f1[("full", "full")][1] > 0
    for key, (value, _) in f1.items():
        assert s[key]["f1_mean"] == pytest.approx(value)
        assert s[key]["gap_to_full"] == pytest.approx(f1[("full", "full")][0] - value)
    assert s[("random", "3")]["sentences"] == 3 and s[("full", "full")]["sentences"] == 30


def strict_f1(conn, prediction_run: int) -> tuple[float, int]:
    """(micro F1, gold entities) of a prediction run against gold, counted in Python."""
    pred = set(conn.execute("SELECT sentence_id, start_char, end_char, label FROM entities "
                            "WHERE source = 'llm' AND run_id = %s", (prediction_run,)).fetchall())
    gold = set(conn.execute("SELECT e.sentence_id, e.start_char, e.end_char, e.label FROM entities e "
                            "JOIN predictions p ON p.sentence_id = e.sentence_id AND p.run_id = %s "
                            "WHERE e.source = 'gold'", (prediction_run,)).fetchall())
    tp = len(pred & gold)
    return (2 * tp / (len(pred) + len(gold)) if pred or gold else 0.0), len(gold)


def test_cells_share_one_test_sample_ablations_and_intervals(conn, corpus, tmp_path, monkeypatch, capsys):
    """Ablation names are first-class strategies; every cell predicts the same fixed test sample;
    the report's intervals are computed from per-sentence counts that reproduce each cell's F1;
    off a terminal, each finished cell says so in one line on stderr."""
    p = ExperimentParams(dataset="bc", budgets=["4"], seeds=2, test_sample=3, k=1,
                         strategies=["random", "Allabel:ds", "allabel:SU", "full"],
                         uncertainty_candidates=4, pool_splits=["train"])
    exp = run_experiment(p, show_progress=True)  # stderr is no terminal here: lines, no bar
    err = capsys.readouterr().err
    lines = err.splitlines()
    cells = conn.execute("SELECT strategy, budget, seed, selection_run_id, prediction_run_id "
                         "FROM experiment_cells WHERE experiment_id = %s AND status = 'done' "
                         "ORDER BY strategy, seed", (exp,)).fetchall()
    assert sorted({c[0] for c in cells}) == ["allabel:DS", "allabel:SU", "full", "random"]
    assert len(cells) == 8
    stored = {(r["strategy"], r["budget"], r["seed"]): r["f1"] for r in results(conn, exp)}
    said = [ln for ln in lines if ln.startswith(f"experiment {exp}: ")]
    assert len(said) == 8 and said[-1].startswith(f"experiment {exp}: 8 of 8 cells to run done: ")
    assert "\r" not in err  # no bar frames in a log
    for ln in said:  # each line names its cell and the F1 stored for it
        cell = ln.split(" done: ")[1].split(",")[0].split()
        assert f"F1 {stored[(cell[0], cell[1], int(cell[3]))]:.3f}," in ln and "3 test sentences" in ln
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'bc'").fetchone()[0]
    sample = fixed_test_sample(conn, ds, p)
    assert len(sample) == 3
    for strategy, budget, seed, sel, pred in cells:
        done = [r[0] for r in conn.execute("SELECT sentence_id FROM predictions WHERE run_id = %s "
                                           "AND status = 'done' ORDER BY sentence_id", (pred,))]
        assert done == sample, (strategy, budget, seed)
        stages = dict(conn.execute("SELECT stage, count(*) FROM selections WHERE run_id = %s "
                                   "GROUP BY stage", (sel,)).fetchall())
        params = conn.execute("SELECT params FROM runs WHERE id = %s", (sel,)).fetchone()[0]
        if strategy == "allabel:DS":
            assert stages == {"diversity": 1, "similarity": 3}  # 1:3:1 without U -> 1:3 of 4
        elif strategy == "allabel:SU":
            assert stages == {"similarity": 3, "uncertainty": 1}
        elif strategy == "full":
            assert params["budget"] is None and stages == {"full": 30}

    out, md = write_report(str(exp), tmp_path / "rep")
    report = (out / "report.md").read_text()
    assert "F1 − random [95% CI]" in report and "3 test sentences" in report
    assert "| 4 | random | 2 |" in md and "(reference)" in md
    with db_connection() as c:
        _, counts = cell_counts(c, exp)
    rows = {(r["strategy"], r["budget"]): r for r in intervals(counts, resamples=500)}
    f1s = {}
    for r in results(conn, exp):
        f1s.setdefault((r["strategy"], r["budget"]), []).append(r["f1"])
    for key, vals in f1s.items():  # per-sentence counts give back each cell's stored micro F1
        assert rows[key]["f1"].estimate == pytest.approx(sum(vals) / len(vals))
    for strategy, budget, seed, _, pred in cells:  # ... and its tp, predicted and gold counts
        stored = dict(conn.execute("SELECT metric, value FROM evaluations WHERE run_id = %s AND "
                                   "label = '*' AND metric IN ('tp', 'n_pred', 'n_gold')",
                                   (pred,)).fetchall())
        tp, fp, fn = counts[(strategy, budget, seed)].sum(axis=0)
        assert (tp, tp + fp, tp + fn) == (stored["tp"], stored["n_pred"], stored["n_gold"])
        assert stored["n_gold"] > 0 and counts[(strategy, budget, seed)].shape == (3, 3)
    assert rows[("allabel:DS", "4")]["paired_seeds"] == 2 and rows[("full", "full")]["diff"] is None

    monkeypatch.setenv("ALLABEL_HOME", str(tmp_path / "home"))  # no --out: under the home, not cwd
    get_settings.cache_clear()
    assert write_report(str(exp))[0] == tmp_path / "home" / "reports" / f"experiment-{exp}"


def test_cell_scores_cover_only_the_experiments_test_sample(conn, corpus):
    """A prediction run is shared by experiments with the same selection, and one with a larger
    test sample extends it. A later experiment on the smaller sample must score (and count the
    LLM calls of) its own sample only, as the first did, not everything the run holds by now."""
    small = replace(PARAMS, budgets=["3"], strategies=["random"], test_sample=2)
    first = run_experiment(small, show_progress=False)
    before = {(r["strategy"], r["seed"]): r for r in results(conn, first)}
    run_experiment(replace(small, test_sample=6), show_progress=False)  # the shared run grows to 6
    conn.execute("DELETE FROM experiments WHERE id = %s", (first,))  # so the same params start anew
    conn.commit()
    again = run_experiment(small, show_progress=False)
    assert again != first
    pred = conn.execute("SELECT prediction_run_id FROM experiment_cells WHERE experiment_id = %s "
                        "AND strategy = 'random'", (again,)).fetchone()[0]
    assert conn.execute("SELECT count(*) FROM predictions WHERE run_id = %s AND status = 'done'",
                        (pred,)).fetchone()[0] == 6
    with db_connection() as c:
        sample, counts = cell_counts(c, again)
    sample_gold = conn.execute("SELECT count(*) FROM entities WHERE source = 'gold' AND "
                               "sentence_id = ANY(%s)", (sample,)).fetchone()[0]
    for r in results(conn, again):
        was = before[(r["strategy"], r["seed"])]
        assert r["f1"] == pytest.approx(was["f1"]) and r["partial_f1"] == pytest.approx(was["partial_f1"])
        assert (r["calls"], r["requests"]) == (was["calls"], was["requests"])
        stored = conn.execute("SELECT f1 FROM experiment_cells WHERE experiment_id = %s AND strategy = %s",
                              (again, r["strategy"])).fetchone()[0]
        assert stored == pytest.approx(was["f1"])  # the row BI tools read, too
        tp, fp, fn = counts[(r["strategy"], "3", r["seed"])].sum(axis=0)
        assert tp + fn == sample_gold and r["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    # the prediction run asked about 6 sentences; the cell counts the requests of its 2
    asked = conn.execute("SELECT count(*) FROM run_llm_requests WHERE run_id = %s", (pred,)).fetchone()[0]
    assert asked == 6 and before[("random", 0)]["requests"] == 2
