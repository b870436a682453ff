"""Selection runs against the database: exact budgets, no duplicates, never the test split,
determinism, the oracle, and the two-round workflow with a person (real local model in stage 3)."""

from __future__ import annotations

import json

import pytest

from allabel.core.errors import ConfigError
from allabel.select.run import SelectParams, select


def picks(conn, run_id):
    return conn.execute("SELECT s.sentence_id, s.stage, x.split FROM selections s "
                        "JOIN sentences x ON x.id = s.sentence_id WHERE run_id = %s ORDER BY rank",
                        (run_id,)).fetchall()


@pytest.mark.parametrize("strategy,budget,expected", [
    ("random", "7", 7), ("coreset", "10%", 7), ("similarity", "9", 9), ("full", "1", 70)])
def test_baselines_select_exactly_the_budget_never_test(conn, corpus, strategy, budget, expected):
    r = select(SelectParams("bc", budget, strategy, seed=3), show_progress=False)
    rows = picks(conn, r.run_id)
    # every pick chosen, none annotated yet: the run waits for a person, it is not done
    assert r.status == "awaiting_annotation" and len(rows) == expected
    assert len({sid for sid, _, _ in rows}) == expected  # never twice
    assert all(split != "test" for _, _, split in rows)
    params, status = conn.execute("SELECT params, status FROM runs WHERE id = %s",
                                  (r.run_id,)).fetchone()
    assert status == "awaiting_annotation" and params["strategy"] == strategy and params["budget"] == budget
    assert queued(conn, r.run_id) == expected
    # with the oracle every pick is annotated at once: done, nothing queued
    o = select(SelectParams("bc", budget, strategy, seed=3, oracle=True), show_progress=False)
    assert o.status == "done" and o.run_id != r.run_id and queued(conn, o.run_id) == 0


def queued(conn, run_id):
    return conn.execute("SELECT count(*) FROM annotation_queue WHERE run_id = %s", (run_id,)).fetchone()[0]


def test_same_parameters_same_run_and_seed_determinism(conn, corpus):
    a = select(SelectParams("bc", "8", "random", seed=1), show_progress=False)
    b = select(SelectParams("bc", "8", "random", seed=1), show_progress=False)
    c = select(SelectParams("bc", "8", "random", seed=2), show_progress=False)
    assert a.run_id == b.run_id and a.run_id != c.run_id
    assert picks(conn, a.run_id) != picks(conn, c.run_id)
    d = select(SelectParams("bc", "6", "coreset", seed=1), show_progress=False)
    e = select(SelectParams("bc", "6", "coreset", seed=9), show_progress=False)
    assert [p[0] for p in picks(conn, d.run_id)] == [p[0] for p in picks(conn, e.run_id)]


def test_test_split_is_never_in_the_pool(corpus):
    with pytest.raises(ConfigError, match="never part of the selection pool"):
        select(SelectParams("bc", "5", "random", pool_splits=["train", "test"]), show_progress=False)
    with pytest.raises(ConfigError, match="exceeds the pool"):
        select(SelectParams("bc", "71", "random"), show_progress=False)


def test_allabel_with_oracle_completes_in_one_command(conn, cli, corpus):
    code, out, err = cli("select", "--dataset", "bc", "--budget", "5", "--strategy", "allabel",
                         "--oracle", "--uncertainty-candidates", "3", "--k", "1")
    assert code == 0, err
    run_id = int(out.split()[1].rstrip(":"))
    assert out.splitlines() == [
        f"run {run_id}: done; 5 sentences selected (diversity 1, similarity 3, uncertainty 1)",
        "uncertainty: perplexity known for 100% of 3 candidates",
        f"next: allabel predict --dataset bc --split test --demos {run_id}"]
    rows = picks(conn, run_id)
    assert [st for _, st, _ in rows] == ["diversity", "similarity", "similarity", "similarity",
                                         "uncertainty"]
    # the uncertainty pick is the candidate with the highest perplexity
    ppl = dict(conn.execute("SELECT sentence_id, perplexity FROM predictions WHERE run_id = %s",
                            (run_id,)).fetchall())
    assert len(ppl) == 3 and rows[-1][0] == max(ppl, key=lambda s: ppl[s])
    # oracle annotations: every pick annotated, with exactly its gold spans
    assert conn.execute("SELECT count(*) FROM annotations WHERE run_id = %s AND origin = 'oracle'",
                        (run_id,)).fetchone()[0] == 5
    gold = conn.execute("SELECT count(*) FROM entities WHERE source='gold' AND sentence_id IN "
                        "(SELECT sentence_id FROM selections WHERE run_id = %s)", (run_id,)).fetchone()[0]
    human = conn.execute("SELECT count(*) FROM entities WHERE source='human' AND run_id = %s",
                         (run_id,)).fetchone()[0]
    assert human == gold
    stats = conn.execute("SELECT stats FROM runs WHERE id = %s", (run_id,)).fetchone()[0]
    assert stats["llm_calls"] == 3 and stats["prompt_tokens"] > 0
    # the same command again makes no LLM call and changes nothing
    n_calls = conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
    code, out2, _ = cli("select", "--dataset", "bc", "--budget", "5", "--strategy", "allabel",
                        "--oracle", "--uncertainty-candidates", "3", "--k", "1")
    assert code == 0 and out2.split()[1] == out.split()[1]
    assert conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == n_calls


def test_two_rounds_with_a_person(conn, cli, corpus, tmp_path):
    code, out, _ = cli("select", "--dataset", "bc", "--budget", "5", "--uncertainty-candidates", "2",
                       "--k", "1")
    assert code == 0 and "awaiting_annotation" in out
    run_id = int(out.split()[1].rstrip(":"))
    assert len(picks(conn, run_id)) == 4  # stages 1-2 only
    queue = conn.execute("SELECT count(*) FROM annotation_queue WHERE run_id = %s",
                         (run_id,)).fetchone()[0]
    assert queue == 4
    code, _, err = cli("select", "--resume", str(run_id))
    assert code == 3 and "still waits for 4 annotations" in err
    f = tmp_path / "todo.jsonl"
    assert cli("export", str(run_id), "--format", "jsonl", "--out", str(f))[0] == 0
    lines = [json.loads(x) for x in f.read_text().splitlines()]
    assert len(lines) == 4
    for o in lines:  # the person marks the first word as a Chemical
        w = o["text"].split()[0]
        o["entities"] = [{"start": 0, "end": len(w), "label": "Chemical", "text": w}]
        o["annotator"] = "ada"
    f.write_text("\n".join(json.dumps(o) for o in lines) + "\n")
    code, out, err = cli("import", str(f), "--run", str(run_id))
    assert code == 0, err
    code, out, err = cli("select", "--resume", str(run_id))
    # stage 3 picked its sentence, which nobody has annotated yet: not done
    assert code == 0 and out.startswith(f"run {run_id}: awaiting_annotation; 5 sentences"), err
    assert f"next: allabel export {run_id}" in out and f"allabel select --resume {run_id}" in out
    rows = picks(conn, run_id)
    assert len(rows) == 5 and rows[-1][1] == "uncertainty"
    assert queued(conn, run_id) == 1
    assert conn.execute("SELECT status FROM runs WHERE id = %s", (run_id,)).fetchone()[0] == \
        "awaiting_annotation"
    code, _, err = cli("select", "--resume", str(run_id))
    assert code == 3 and "still waits for 1 annotations" in err
    # the last pick annotated: now the run is done and says what comes next
    assert cli("export", str(run_id), "--format", "jsonl", "--out", str(f))[0] == 0
    (last,) = [json.loads(x) for x in f.read_text().splitlines()]
    assert last["sentence_id"] == rows[-1][0]
    last["entities"], last["annotator"] = [], "ada"
    f.write_text(json.dumps(last) + "\n")
    assert cli("import", str(f), "--run", str(run_id))[0] == 0
    code, out, err = cli("select", "--resume", str(run_id))
    assert code == 0 and out.splitlines() == [
        f"run {run_id}: done; 5 sentences selected (diversity 1, similarity 3, uncertainty 1)",
        "uncertainty: perplexity known for 100% of 2 candidates",  # --uncertainty-candidates 2
        f"next: allabel predict --dataset bc --split test --demos {run_id}"], err
    assert queued(conn, run_id) == 0
    assert conn.execute("SELECT count(DISTINCT annotator) FROM annotations WHERE run_id = %s",
                        (run_id,)).fetchone()[0] == 1


def test_full_refuses_a_budget_and_selects_the_whole_pool(conn, cli, corpus):
    code, out, err = cli("select", "--dataset", "bc", "--strategy", "full", "--budget", "3")
    assert code == 3 and out == ""
    assert err.splitlines() == ["error: --strategy full selects the whole pool: drop --budget"]
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # nothing started
    code, out, err = cli("select", "--dataset", "bc", "--strategy", "full", "--oracle")
    assert code == 0, err
    run_id = int(out.split()[1].rstrip(":"))
    assert out.splitlines()[0] == f"run {run_id}: done; 70 sentences selected (full 70)"
    assert conn.execute("SELECT params->>'budget' FROM runs WHERE id = %s", (run_id,)).fetchone()[0] is None
    # a budget-less baseline is still refused
    code, _, err = cli("select", "--dataset", "bc", "--strategy", "random")
    assert code == 3 and "--budget are required" in err


def test_bm25_similarity_stage(conn, corpus):
    r = select(SelectParams("bc", "6", "similarity", similarity="bm25"), show_progress=False)
    rows = picks(conn, r.run_id)
    assert len(rows) == 6 and len({s for s, _, _ in rows}) == 6
    scores = [s for (s,) in conn.execute("SELECT score FROM selections WHERE run_id = %s ORDER BY rank",
                                         (r.run_id,))]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0


def test_cli_ablation_names_and_full_without_a_budget(conn, cli, corpus):
    code, out, err = cli("select", "--dataset", "bc", "--budget", "8", "--strategy", "Allabel:ds")
    assert code == 0, err
    run_id = int(out.split()[1].rstrip(":"))
    stages = [s for _, s, _ in picks(conn, run_id)]
    assert stages == ["diversity"] * 2 + ["similarity"] * 6  # 1:3 of 8, in the letters' order
    params = conn.execute("SELECT params FROM runs WHERE id = %s", (run_id,)).fetchone()[0]
    assert params["strategy"] == "allabel:DS"  # stored in its one spelling
    code, out, err = cli("select", "--dataset", "bc", "--budget", "8", "--strategy", "allabel:SD+long")
    assert code == 0, err
    params = conn.execute("SELECT params FROM runs WHERE id = %s",
                          (int(out.split()[1].rstrip(":")),)).fetchone()[0]
    assert (params["strategy"], params["length_floor"]) == ("allabel:SD", 0.5)  # +long = the option
    code, out, err = cli("select", "--dataset", "bc", "--strategy", "full")
    assert code == 0, err
    assert "70 sentences selected" in out
    code, out, err = cli("select", "--dataset", "bc", "--budget", "8", "--strategy", "allabel:DX")
    assert code != 0 and "bad strategy 'allabel:DX'" in err
    code, out, err = cli("select", "--dataset", "bc", "--strategy", "random")
    assert code != 0 and "--budget are required" in err
