"""End to end with the real bundled local model on a handful of bc5cdr sentences: predictions,
entity rows and perplexities are written; the cached re-run makes no LLM call."""

from __future__ import annotations

import pytest

from allabel.core.config import get_settings
from allabel.ingest import ingest_path
from tests.conftest import BC5CDR


@pytest.fixture()
def small_bc5cdr(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ALLABEL_LLM_MAX_TOKENS", "48")
    get_settings.cache_clear()
    for split, n in (("train", 60), ("test", 4)):
        blocks = (BC5CDR / f"{split}.tsv").read_text().split("\n\n")
        (tmp_path / f"{split}.tsv").write_text("\n\n".join(blocks[:n]) + "\n")
    ingest_path(tmp_path, "bc")
    yield
    get_settings.cache_clear()


def test_local_model_end_to_end_and_cached_rerun(conn, cli, small_bc5cdr):
    code, out, err = cli("predict", "--dataset", "bc", "--split", "test", "--demos", "train",
                         "--k", "2")
    assert code == 0, err
    assert "4 LLM calls" in out
    preds = conn.execute("SELECT status, perplexity, parse_status, cardinality(demo_ids) "
                         "FROM predictions ORDER BY id").fetchall()
    assert len(preds) == 4
    for status, ppl, parse_status, n_demos in preds:
        assert status == "done" and parse_status in {"ok", "partial", "unparseable"}
        assert ppl is not None and ppl >= 1.0  # exp(-mean log-prob) of a real answer
        assert n_demos == 2
    calls = conn.execute("SELECT backend, model, cardinality(token_logprobs), completion_tokens "
                         "FROM llm_calls").fetchall()
    assert len(calls) == 4 and all(c[0] == "local" and c[2] == c[3] > 0 for c in calls)
    ents = conn.execute(
        "SELECT e.start_char, e.end_char, e.text, s.text, e.confidence, e.model FROM entities e "
        "JOIN sentences s ON s.id = e.sentence_id WHERE e.source = 'llm'").fetchall()
    assert len(ents) >= 1
    for a, b, text, sent, conf, model in ents:
        assert sent[a:b] == text and model.startswith("SmolLM2")
        assert conf is None or 0 < conf <= 1
    n_entities = len(ents)

    # identical re-run: the run is complete and nothing is asked again
    code, out, _ = cli("predict", "--dataset", "bc", "--split", "test", "--demos", "train",
                       "--k", "2")
    assert code == 0 and "nothing to do" in out
    # a new run with the same prompts (another --limit does not change the config) is served
    # from the cache: delete the predictions and run again -> 4 requests, 0 calls
    conn.execute("DELETE FROM predictions")
    conn.commit()
    code, out, _ = cli("predict", "--dataset", "bc", "--split", "test", "--demos", "train",
                       "--k", "2")
    assert code == 0 and "0 LLM calls, 4 cache hits" in out
    assert conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 4
    assert conn.execute("SELECT count(*) FROM entities WHERE source='llm'").fetchone()[0] \
        == n_entities
