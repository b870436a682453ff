"""The experiment runner with the real local model on a tiny configuration: an interrupted
experiment resumes to the same final table as an uninterrupted one, and the report is written."""

from __future__ import annotations

import pytest

from allabel.config import get_settings
from allabel.experiment import ExperimentParams, results, run_experiment
from allabel.report import summarise, write_report
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
    assert s[("full", "full")]["gap_to_full"] == 0.0
    assert s[("random", "3")]["sentences"] == 3 and s[("full", "full")]["sentences"] == 30
