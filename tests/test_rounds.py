"""Active learning as a loop (issue 29): rounds never pick what another run took, continue from
it, accept sentences ingested since; token budgets; ``allabel rounds``; resuming a round."""

from __future__ import annotations

import json

import numpy as np
import pytest

from allabel.core.errors import LLMError
from allabel.ingest import ingest_path
from allabel.retrieval.embed import embed_dataset, load_vectors
from allabel.select import run as srun
from allabel.select import token_budget
from allabel.select.stages.similarity import Similarity


def picks(conn, run_id: int) -> list[int]:
    return [r[0] for r in conn.execute("SELECT sentence_id FROM selections WHERE run_id = %s "
                                       "ORDER BY rank", (run_id,))]


def last_run(conn) -> int:
    return conn.execute("SELECT max(id) FROM runs WHERE kind = 'selection'").fetchone()[0]


def tokens_of(conn, ids: list[int]) -> dict[int, int]:
    return dict(conn.execute("SELECT id, allabel.sentence_tokens(tokens, text) FROM sentences "
                             "WHERE id = ANY(%s)", (ids,)).fetchall())


def pool_ids(conn) -> list[int]:
    return [r[0] for r in conn.execute("SELECT id FROM sentences WHERE split <> 'test' ORDER BY id")]


def test_no_strategy_picks_a_taken_sentence_unless_allow_annotated(conn, cli, corpus):
    code, out, err = cli("select", "--dataset", "bc", "--budget", "8", "--strategy", "random")
    assert code == 0, err
    waiting = set(picks(conn, last_run(conn)))  # awaiting annotation: waiting, not annotated
    code, out, err = cli("select", "--dataset", "bc", "--budget", "6", "--strategy", "coreset",
                         "--oracle")
    assert code == 0, err
    taken = waiting | set(picks(conn, last_run(conn)))
    assert len(taken) == 14
    for strategy, extra in (("random", ["--seed", "3"]), ("coreset", []), ("similarity", []),
                            ("allabel:DS+long", []), ("allabel", ["--oracle", "--k", "1"])):
        code, out, err = cli("select", "--dataset", "bc", "--budget", "5", "--strategy", strategy,
                             *extra, "--uncertainty-candidates", "6")
        assert code == 0, (strategy, err)
        new = picks(conn, last_run(conn))
        assert len(new) == 5 and not set(new) & taken, strategy
        taken |= set(new)
    # the old behaviour on request: an independent coreset on the whole pool, as on a fresh
    # dataset, so it picks again what the rounds took
    code, out, err = cli("select", "--dataset", "bc", "--budget", "6", "--strategy", "coreset",
                         "--oracle", "--allow-annotated")
    assert code == 0, err
    again = picks(conn, last_run(conn))
    assert len(again) == 6 and set(again) & taken


def test_round_two_starts_from_the_annotated_set_and_takes_new_sentences(conn, cli, corpus,
                                                                          tmp_path):
    code, _, err = cli("select", "--dataset", "bc", "--next", "5", "--strategy", "coreset", "--oracle")
    assert code == 0, err
    r1 = last_run(conn)
    annotated = picks(conn, r1)
    # new papers arrive: sentences unlike the corpus, in a new split
    new = tmp_path / "new.txt"
    new.write_text("The football club signed a new striker for the summer season .\n"
                   "Tickets for the opera premiere sold out within minutes .\n")
    ingest_path(new, "bc", "extra")
    code, out, err = cli("select", "--dataset", "bc", "--next", "3", "--strategy", "coreset", "--oracle")
    assert code == 3 and "have no embedding" in err and "next: allabel embed --dataset bc" in err
    embed_dataset("bc", show_progress=False)
    code, out, err = cli("select", "--dataset", "bc", "--next", "3", "--strategy", "coreset", "--oracle")
    assert code == 0, err
    r2 = last_run(conn)
    assert r2 != r1
    assert conn.execute("SELECT params ->> 'round' FROM runs WHERE id = %s", (r2,)).fetchone()[0] == "2"
    second = picks(conn, r2)
    assert not set(second) & set(annotated)
    # stage 1 of round 2: its first pick is the candidate farthest from the annotated set
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'bc'").fetchone()[0]
    pool = pool_ids(conn)
    ids, X = load_vectors(conn, ds, sentence_ids=pool)
    index = {int(s): i for i, s in enumerate(ids)}
    max_sim = (X @ X[[index[s] for s in annotated]].T).max(axis=1)
    max_sim[[index[s] for s in annotated]] = np.inf
    assert second[0] == int(ids[int(np.argmin(max_sim))])
    new_ids = {r[0] for r in conn.execute("SELECT id FROM sentences WHERE split = 'extra'")}
    assert set(second) & new_ids, "a sentence ingested since the last round can be picked"
    # the same --next again while nothing changed is a new round (round 2 is done) ...
    code, out, err = cli("select", "--dataset", "bc", "--next", "3", "--strategy", "coreset")
    assert code == 0 and last_run(conn) != r2
    r3 = last_run(conn)
    # ... and repeating it while round 3 waits for a person reports round 3
    code, out, err = cli("select", "--dataset", "bc", "--next", "3", "--strategy", "coreset")
    assert code == 0 and last_run(conn) == r3 and f"run {r3}: awaiting_annotation" in out


@pytest.mark.parametrize("strategy", ["random", "allabel:DS", "coreset"])
def test_a_token_budget_is_never_exceeded_and_filled_to_one_sentence(conn, cli, corpus, strategy):
    code, _, err = cli("select", "--dataset", "bc", "--budget", "4", "--strategy", "random", "--oracle")
    assert code == 0, err
    for budget in (150, 400):
        code, out, err = cli("select", "--dataset", "bc", "--budget", f"{budget}t",
                             "--strategy", strategy, "--seed", str(budget))
        assert code == 0, err
        run = last_run(conn)
        got = picks(conn, run)
        counts = tokens_of(conn, pool_ids(conn))
        total = sum(counts[s] for s in got)
        taken = set(picks(conn, 1))
        assert total <= budget and not set(got) & taken
        # filled to within one sentence: the gap is smaller than the longest selectable sentence
        longest = max(n for s, n in counts.items() if s not in taken and s not in got)
        assert budget - total < longest
        taken |= set(got)


def test_token_budget_rules():
    counts = {1: 10, 2: 30, 3: 5, 4: 50}
    assert token_budget.prefix_within([1, 2, 3, 4], counts, 45) == 3
    assert token_budget.prefix_within([1, 2, 3, 4], counts, 39) == 1  # stops, never skips ahead
    assert token_budget.prefix_within([4], counts, 49) == 0
    assert token_budget.stage_share(500, [1, 3, 1]) == 100
    assert token_budget.stage_share(400, [1]) == 400
    assert token_budget.parse("5000t") == 5000 and token_budget.parse("5%") is None
    assert token_budget.parse("120") is None


def test_rounds_figures_equal_the_tables(conn, cli, corpus):
    for args in (["--next", "6", "--strategy", "random", "--oracle"],
                 ["--next", "80t", "--strategy", "coreset"]):
        code, _, err = cli("select", "--dataset", "bc", *args)
        assert code == 0, err
    code, out, err = cli("rounds", "--dataset", "bc", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["round"] for r in rows] == [1, 2]
    for r in rows:
        ids = picks(conn, r["run_id"])
        assert r["picks"] == len(ids)
        assert r["tokens"] == sum(tokens_of(conn, ids).values())
        assert r["annotated"] == conn.execute("SELECT count(*) FROM annotations WHERE run_id = %s",
                                              (r["run_id"],)).fetchone()[0]
        assert r["llm_calls"] == conn.execute(
            "SELECT count(*) FILTER (WHERE NOT cache_hit) FROM run_llm_requests WHERE run_id = %s",
            (r["run_id"],)).fetchone()[0]
        assert r["quality"] is None and r["verdict"] == "undecided"  # no quality estimates here
    assert rows[0]["annotated"] == 6 and rows[1]["annotated"] == 0 and rows[1]["tokens"] <= 80
    code, out, err = cli("rounds", "--dataset", "bc")
    assert code == 0 and "verdict" in out.splitlines()[0] and len(out.splitlines()) == 3


def test_resuming_an_interrupted_round_picks_exactly_the_rest(conn, cli, corpus, monkeypatch):
    code, _, err = cli("select", "--dataset", "bc", "--next", "5", "--strategy", "random", "--oracle")
    assert code == 0, err
    taken = set(picks(conn, last_run(conn)))
    real = Similarity.pick

    def broken(self, ctx, n):
        raise LLMError("power cut")  # any failure after stage 1 was committed

    monkeypatch.setattr(Similarity, "pick", broken)
    args = ("select", "--dataset", "bc", "--next", "8", "--strategy", "allabel:DS")
    code, _, err = cli(*args)
    assert code != 0
    run = last_run(conn)
    stage1 = picks(conn, run)
    assert len(stage1) == 2 and not set(stage1) & taken
    monkeypatch.setattr(Similarity, "pick", real)
    code, out, err = cli(*args)  # the same command continues the interrupted round
    assert code == 0, err
    assert last_run(conn) == run
    got = picks(conn, run)
    assert len(got) == len(set(got)) == 8 and got[:2] == stage1 and not set(got) & taken
    # the rest is what an uninterrupted round would have picked
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'bc'").fetchone()[0]
    params = srun.run_params(run)
    assert params.budget == "8" and params.strategy == "allabel:DS"
    assert conn.execute("SELECT params ->> 'round' FROM runs WHERE id = %s", (run,)).fetchone()[0] == "2"
    assert ds


def test_stage3_of_a_round_prompts_with_every_annotation_of_the_campaign(conn, cli, corpus):
    code, _, err = cli("select", "--dataset", "bc", "--next", "6", "--strategy", "random", "--oracle")
    assert code == 0, err
    first = set(picks(conn, last_run(conn)))
    code, _, err = cli("select", "--dataset", "bc", "--next", "5", "--strategy", "allabel",
                       "--oracle", "--k", "4", "--uncertainty-candidates", "6")
    assert code == 0, err
    run = last_run(conn)
    own = set(picks(conn, run)[:4])  # stages 1-2, annotated before stage 3 ran
    shown = {d for (ids,) in conn.execute("SELECT demo_ids FROM predictions WHERE run_id = %s",
                                          (run,)) for d in ids}
    assert shown <= first | own and shown & first  # round 1's annotations are demonstrations


def test_rounds_read_the_quality_estimate_made_after_each_round(conn, cli, corpus):
    """`allabel rounds` shows the micro-F1 estimate `allabel quality` stored after a round (and
    before the next one), the gain between rounds with its interval, and an audit estimate is
    preferred to a cross-validation one."""
    for args in (["--next", "4", "--strategy", "random", "--oracle"],
                 ["--next", "4", "--strategy", "random", "--oracle", "--seed", "1"]):
        code, _, err = cli("select", "--dataset", "bc", *args)
        assert code == 0, err
    first, second = [r["run_id"] for r in json.loads(cli("rounds", "--dataset", "bc", "--json")[1])]
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'bc'").fetchone()[0]
    pred = conn.execute("INSERT INTO runs (kind, dataset_id) VALUES ('prediction', %s) RETURNING id",
                        (ds,)).fetchone()[0]

    def estimate(run_after: int, source: str, value: float, half: float) -> None:
        when = conn.execute("SELECT finished_at + interval '1 second' FROM runs WHERE id = %s",
                            (run_after,)).fetchone()[0]
        conn.execute("INSERT INTO quality_estimates (run_id, source, label, metric, value, low, high, "
                     "sentences, gold_mentions, computed_at) VALUES (%s, %s, '*', 'f1', %s, %s, %s, 50, 80, %s)"
                     " ON CONFLICT (run_id, source, label, metric) DO UPDATE SET value = EXCLUDED.value,"
                     " low = EXCLUDED.low, high = EXCLUDED.high, computed_at = EXCLUDED.computed_at",
                     (pred, source, value, value - half, value + half, when))

    # round 2 happened an hour after round 1 (both ran within a second here)
    conn.execute("UPDATE runs SET created_at = f.finished_at + interval '1 hour', "
                 "finished_at = f.finished_at + interval '61 minutes' FROM runs f "
                 "WHERE runs.id = %s AND f.id = %s", (second, first))
    estimate(first, "cross-validation", 0.30, 0.05)
    conn.commit()
    rows = json.loads(cli("rounds", "--dataset", "bc", "--json")[1])
    assert rows[0]["quality"] == 0.30 and rows[1]["quality"] is None
    # a second prediction run's audit estimate after round 2
    pred = conn.execute("INSERT INTO runs (kind, dataset_id) VALUES ('prediction', %s) RETURNING id",
                        (ds,)).fetchone()[0]
    estimate(second, "audit", 0.40, 0.02)
    estimate(second, "cross-validation", 0.90, 0.02)
    conn.commit()
    rows = json.loads(cli("rounds", "--dataset", "bc", "--json")[1])
    assert rows[1]["quality"] == 0.40  # the audit, not the cross-validation estimate
    assert abs(rows[1]["gain"] - 0.10) < 1e-9 and rows[1]["gain_low"] < 0.10 < rows[1]["gain_high"]
    assert rows[1]["verdict"] == "continue"  # the gain's lower bound is above --min-gain 0.01
