"""``predict --batch-api`` against a fake OpenAI Batch endpoint: submit, collect later through the
same cache and parser, a failed item retried, idempotent re-runs, no secret in files or logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from allabel.core.config import get_settings
from allabel.ingest import ingest_path
from allabel.llm.cache import usage
from tests.fake_openai import FakeOpenAI

DATA = Path(__file__).parent / "data"
SECRET = "sk-test-BATCH-SECRET-456"
POOL = ["Heparin was given .", "Warfarin too .", "Caffeine last .", "Lithium caused tremor .",
        "Cocaine and seizures .", "Aspirin for fever ."]


@pytest.fixture()
def fake(db_url, monkeypatch, tmp_path):
    with FakeOpenAI() as srv:
        for k, v in {"ALLABEL_LLM_BASE_URL": srv.url, "ALLABEL_LLM_MODEL": "fake-model",
                     "ALLABEL_LLM_API_KEY": SECRET, "ALLABEL_HOME": str(tmp_path / "home"),
                     "ALLABEL_LLM_MAX_RETRIES": "0",
                     "ALLABEL_LLM_PRICES": json.dumps({"fake-model": {"prompt": 1, "completion": 1}}),
                     }.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        ingest_path(DATA / "small.tsv", "toy", "train")
        (tmp_path / "t.txt").write_text("\n".join(POOL) + "\n")
        ingest_path(tmp_path / "t.txt", "toy", "test")
        yield srv


ARGS = ("predict", "--dataset", "toy", "--split", "test", "--demos", "train", "--k", "1")


def _status(conn) -> dict:
    return dict(conn.execute("SELECT status, count(*) FROM predictions GROUP BY 1").fetchall())


def test_batch_round_trip_with_a_failed_item(conn, fake, cli, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    # two sentences synchronously first; one of them is forgotten, so the cache answers it later
    code, _, _ = cli(*ARGS, "--limit", "2")
    assert code == 0 and len(fake.requests) == 2
    conn.execute("DELETE FROM predictions WHERE id = (SELECT max(id) FROM predictions)")
    conn.commit()

    code, out, err = cli(*ARGS, "--batch-api")
    assert code == 0, err
    assert "1 answered from the cache" in out and "submitted batch 1 with 4 requests" in out
    assert len(fake.requests) == 2 and len(fake.batches) == 1  # no synchronous call
    assert _status(conn) == {"done": 2, "pending": 4}
    batch_file = tmp_path / "home" / "batches" / "batch-1.jsonl"
    lines = [json.loads(x) for x in batch_file.read_text().splitlines()]
    assert len(lines) == 4 and lines[0]["body"]["logprobs"] is True
    assert fake.files["file-1"] == batch_file.read_bytes()  # what was uploaded

    # again while the batch runs: nothing new is submitted
    code, out, _ = cli(*ARGS, "--batch-api")
    assert "1 batch(es) still in progress" in out and len(fake.batches) == 1

    failing = lines[1]["custom_id"]
    fake.complete_batches(fail={failing})
    code, out, _ = cli(*ARGS, "--batch-api")
    assert "3 answers stored, 1 failed items left pending" in out
    assert "submitted batch 2 with 1 requests" in out  # the failed item, retried
    assert _status(conn) == {"done": 5, "pending": 1}
    err_txt = conn.execute("SELECT error FROM predictions WHERE id = %s", (int(failing),)).fetchone()[0]
    assert "batch item failed" in err_txt
    assert conn.execute("SELECT count(*) FROM llm_calls WHERE via = 'batch'").fetchone()[0] == 3
    # same parser: the batch answers became entities with confidences and perplexities
    assert conn.execute("SELECT count(*) FROM entities WHERE source='llm' AND confidence IS NOT NULL"
                        ).fetchone()[0] == 5
    assert conn.execute("SELECT count(*) FROM predictions WHERE status='done' AND perplexity IS NULL"
                        ).fetchone()[0] == 0

    fake.complete_batches()
    code, out, _ = cli(*ARGS, "--batch-api")
    assert "1 answers stored, 0 failed" in out and _status(conn) == {"done": 6}
    assert conn.execute("SELECT status FROM runs").fetchone()[0] == "done"
    # idempotent: nothing more to do, nothing duplicated
    code, out, _ = cli(*ARGS, "--batch-api")
    assert "nothing to submit or collect" in out and len(fake.batches) == 2
    assert conn.execute("SELECT count(*) FROM entities WHERE source='llm'").fetchone()[0] == 6
    assert conn.execute("SELECT count(*), count(DISTINCT sentence_id) FROM predictions"
                        ).fetchone() == (6, 6)
    # the synchronous path sees it all cached
    code, out, _ = cli(*ARGS)
    assert "nothing to do" in out and len(fake.requests) == 2

    # money: batch calls at the batch discount
    u = usage(conn)[0]
    pt_s, ct_s, pt_b, ct_b = conn.execute(
        "SELECT sum(prompt_tokens) FILTER (WHERE via='sync'), sum(completion_tokens) FILTER "
        "(WHERE via='sync'), sum(prompt_tokens) FILTER (WHERE via='batch'), sum(completion_tokens) "
        "FILTER (WHERE via='batch') FROM llm_calls c JOIN run_llm_requests q ON q.call_id = c.id "
        "AND NOT q.cache_hit").fetchone()
    assert u["money"] == pytest.approx((pt_s + ct_s + 0.5 * (pt_b + ct_b)) / 1e6)

    # the key was sent to the endpoint, but is in no file, table, output or log
    assert any({k.lower(): v for k, v in h.items()}.get("authorization") == f"Bearer {SECRET}"
               for h in fake.headers)
    for f in (tmp_path / "home").rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes()
    stored = conn.execute("SELECT coalesce(string_agg(b::text, ''), '') FROM llm_batches b"
                          ).fetchone()[0] + conn.execute(
        "SELECT string_agg(i::text, '') FROM llm_batch_items i").fetchone()[0]
    assert SECRET not in stored and SECRET not in caplog.text and SECRET not in out + err


def test_batch_api_needs_an_endpoint(db_url, cli, monkeypatch):
    monkeypatch.delenv("ALLABEL_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    get_settings.cache_clear()
    code, _, err = cli(*ARGS, "--batch-api")
    assert code != 0 and "needs an OpenAI-compatible endpoint" in err


def test_crash_between_submit_and_record_adopts_the_batch(conn, fake, cli):
    code, out, _ = cli(*ARGS, "--batch-api")
    assert "submitted batch 1 with 6 requests" in out
    # as if the process died after the endpoint created the batch, before we recorded it
    conn.execute("UPDATE llm_batches SET status = 'created', remote_id = NULL")
    conn.commit()
    code, out, _ = cli(*ARGS, "--batch-api")
    assert code == 0 and len(fake.batches) == 1 and len(fake.files) == 1  # not submitted twice
    assert conn.execute("SELECT status, remote_id FROM llm_batches").fetchone() == ("submitted",
                                                                                    "batch_1")
    fake.complete_batches()
    code, out, _ = cli(*ARGS, "--batch-api")
    assert "6 answers stored" in out and _status(conn) == {"done": 6}
