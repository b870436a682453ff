"""``predict --new`` reads a work list (``predict_worklist``, sql/016) instead of an anti-join
over the split. These tests hold the work list to its definition — the sentences that no
prediction run has finished — through everything that can move it: ingests, finished and failed
predictions, ``--retry-failed``, selection runs' predictions, deleted runs, sentences and
datasets, writers other than ``allabel ingest``, and the migration's backfill."""

from __future__ import annotations

import psycopg
import pytest

from allabel.core.config import get_settings
from allabel.ingest import ingest_path
from allabel.store import migrate
from tests.cli_jobs import TOY_TEST, configure_toy
from tests.conftest import fresh_empty_db
from tests.fake_openai import FakeOpenAI

PREDICT = ["predict", "--dataset", "toy", "--split", "test", "--demos", "train", "--k", "1"]
OTHER = ["predict", "--dataset", "toy", "--split", "test", "--demos", "train", "--k", "0"]

# the definition the work list stands for: what the anti-join of before computed
UNFINISHED = """
SELECT s.dataset_id, s.split, s.id FROM sentences s
WHERE NOT EXISTS (SELECT 1 FROM predictions p JOIN runs r ON r.id = p.run_id
                  WHERE p.sentence_id = s.id AND p.status = 'done' AND r.kind = 'prediction')
ORDER BY 3"""
WORKLIST = "SELECT dataset_id, split, sentence_id FROM predict_worklist ORDER BY 3"


def worklist_is_right(conn: psycopg.Connection) -> list[tuple]:
    """The work list, after checking it equals its definition."""
    conn.commit()
    got = conn.execute(WORKLIST).fetchall()
    assert got == conn.execute(UNFINISHED).fetchall()
    return got


def new_texts(conn: psycopg.Connection, split: str = "test") -> list[str]:
    conn.commit()
    return [t for (t,) in conn.execute(
        "SELECT s.text FROM predict_worklist w JOIN sentences s ON s.id = w.sentence_id "
        "WHERE w.split = %s ORDER BY s.position", (split,))]


@pytest.fixture()
def fake(db_url, monkeypatch, tmp_path):
    with FakeOpenAI(delay=0.0) as srv:
        configure_toy(srv, monkeypatch, tmp_path, {
            "ALLABEL_LLM_MODEL": "fake", "ALLABEL_LLM_MAX_RETRIES": "0", "ALLABEL_LLM_BACKOFF": "0.01",
            "ALLABEL_LLM_CONCURRENCY": "1", "ALLABEL_LLM_MAX_ATTEMPTS": "1"}, TOY_TEST)
        yield srv
    get_settings.cache_clear()


def asked(fake: FakeOpenAI) -> list[str]:
    """The sentences the fake LLM was asked about, in order (the last user message)."""
    return [r["messages"][-1]["content"] for r in fake.requests]


def test_ingest_fills_the_worklist_and_finishing_empties_it(conn, cli, fake):
    assert len(worklist_is_right(conn)) > len(TOY_TEST)  # train and test: nobody predicted
    assert new_texts(conn) == TOY_TEST
    code, _, err = cli(*PREDICT)
    assert code == 0, err
    assert new_texts(conn) == []
    assert worklist_is_right(conn)  # train is still unfinished


def test_failed_stays_new_and_retry_failed_finishes_it(conn, cli, fake):
    fake.script = ["ok", "500", "ok"]  # the second sentence fails (one attempt allowed)
    code, _, _ = cli(*PREDICT)
    assert code == 5
    assert new_texts(conn) == [TOY_TEST[1]]
    worklist_is_right(conn)
    n = len(fake.requests)
    fake.script, fake.default = [], "ok"
    code, out, err = cli(*OTHER, "--new")  # another run asks only what nobody finished
    assert code == 0, err
    assert len(fake.requests) == n + 1 and TOY_TEST[1] in asked(fake)[-1]
    assert new_texts(conn) == []
    worklist_is_right(conn)
    code, out, err = cli(*PREDICT, "--retry-failed")  # the first run's failed one, asked again
    assert code == 0, err
    assert len(fake.requests) == n + 2
    worklist_is_right(conn)


def test_a_second_ingest_is_new_and_a_rerun_asks_nothing(conn, cli, fake, tmp_path):
    code, _, err = cli(*PREDICT)
    assert code == 0, err
    (tmp_path / "more.txt").write_text("Aspirin came later .\nIbuprofen as well .\n")
    ingest_path(tmp_path / "more.txt", "toy", "test")
    assert new_texts(conn) == ["Aspirin came later .", "Ibuprofen as well ."]
    worklist_is_right(conn)
    from allabel.estimate import estimate_predict

    assert estimate_predict("toy", "test", "train", k=0, new=True).requests == 2  # from the work list
    assert estimate_predict("toy", "test", "train", k=0).requests == 5
    n = len(fake.requests)
    code, out, err = cli(*PREDICT, "--new")  # the first configuration again: the new ones only
    assert code == 0, err
    assert len(fake.requests) == n + 2
    assert ["Aspirin" in asked(fake)[n], "Ibuprofen" in asked(fake)[n + 1]] == [True, True]
    assert new_texts(conn) == []
    worklist_is_right(conn)
    for args in (PREDICT, OTHER):  # nothing new for any configuration: no call
        code, out, err = cli(*args, "--new")
        assert code == 0 and "nothing to do" in out, err
    assert len(fake.requests) == n + 2


def test_selection_runs_do_not_finish_and_deleted_runs_put_sentences_back(conn, cli, fake):
    code, _, err = cli(*PREDICT)
    assert code == 0, err
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'toy'").fetchone()[0]
    train = conn.execute("SELECT min(id) FROM sentences WHERE split = 'train'").fetchone()[0]
    sel = conn.execute("INSERT INTO runs (kind, dataset_id, params) VALUES ('selection', %s, '{}') "
                       "RETURNING id", (ds,)).fetchone()[0]
    conn.execute("INSERT INTO predictions (run_id, sentence_id, status) VALUES (%s, %s, 'done')",
                 (sel, train))  # stage 3 of a selection run: does not make a sentence finished
    before = worklist_is_right(conn)
    assert train in [r[2] for r in before]
    conn.execute("DELETE FROM runs WHERE kind = 'prediction'")  # its done rows go by cascade
    assert new_texts(conn) == TOY_TEST
    worklist_is_right(conn)
    conn.execute("UPDATE predictions SET status = 'done' WHERE run_id = %s", (sel,))  # no change
    worklist_is_right(conn)


def test_done_turning_pending_puts_it_back_unless_another_run_finished_it(conn, cli, fake):
    code, _, err = cli(*PREDICT)
    assert code == 0, err
    code, _, err = cli(*OTHER)  # a second run finishes the same sentences
    assert code == 0, err
    first = conn.execute("SELECT min(run_id) FROM predictions").fetchone()[0]
    conn.execute("UPDATE predictions SET status = 'pending' WHERE run_id = %s", (first,))
    assert new_texts(conn) == []  # the other run still has them done
    worklist_is_right(conn)
    conn.execute("UPDATE predictions SET status = 'failed' WHERE run_id <> %s", (first,))
    assert new_texts(conn) == TOY_TEST
    worklist_is_right(conn)


def test_deleting_sentences_and_datasets_and_other_writers(conn, cli, fake):
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'toy'").fetchone()[0]
    conn.execute("INSERT INTO sentences (dataset_id, split, position, text) "
                 "VALUES (%s, 'test', 99, 'Written by hand .')", (ds,))  # not allabel ingest
    assert new_texts(conn) == [*TOY_TEST, "Written by hand ."]
    worklist_is_right(conn)
    conn.execute("DELETE FROM sentences WHERE text = %s", (TOY_TEST[0],))
    assert new_texts(conn) == [*TOY_TEST[1:], "Written by hand ."]
    worklist_is_right(conn)
    conn.execute("DELETE FROM datasets WHERE id = %s", (ds,))
    assert worklist_is_right(conn) == []


def test_a_failed_ingest_adds_nothing(conn, fake, tmp_path):
    from allabel.core.errors import InputError

    before = worklist_is_right(conn)
    bad = tmp_path / "bad.tsv"
    bad.write_text("Good\tO\n\nBad\n")  # a token line without a tag
    with pytest.raises(InputError):
        ingest_path(bad, "toy", "test")
    assert worklist_is_right(conn) == before


def test_the_migration_backfills_the_worklist(pg_server):
    url = fresh_empty_db(pg_server)
    migrate.upgrade(url, "0014_ingest_staging")
    with psycopg.connect(url) as c:
        c.execute("SET search_path = allabel, public")
        ds = c.execute("INSERT INTO datasets (name) VALUES ('d') RETURNING id").fetchone()[0]
        ids = [c.execute("INSERT INTO sentences (dataset_id, split, position, text) "
                         "VALUES (%s, 'pool', %s, %s) RETURNING id", (ds, i, f"Sentence {i} .")).fetchone()[0]
               for i in range(5)]
        pred = c.execute("INSERT INTO runs (kind, dataset_id, params) VALUES ('prediction', %s, '{}') "
                         "RETURNING id", (ds,)).fetchone()[0]
        sel = c.execute("INSERT INTO runs (kind, dataset_id, params) VALUES ('selection', %s, '{}') "
                        "RETURNING id", (ds,)).fetchone()[0]
        for sid, run, status in [(ids[0], pred, "done"), (ids[1], pred, "failed"),
                                 (ids[2], pred, "pending"), (ids[3], sel, "done")]:
            c.execute("INSERT INTO predictions (run_id, sentence_id, status) VALUES (%s, %s, %s)",
                      (run, sid, status))
    migrate.upgrade(url)
    with psycopg.connect(url) as c:
        c.execute("SET search_path = allabel, public")
        assert [r[2] for r in c.execute(WORKLIST)] == ids[1:]
        assert c.execute(WORKLIST).fetchall() == c.execute(UNFINISHED).fetchall()
