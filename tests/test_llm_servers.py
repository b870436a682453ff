"""OpenAI-compatible servers as they really behave (issue 12): one fake per documented log-prob
behaviour (OpenAI, vLLM, llama.cpp server, Ollama, LM Studio, a strict server), field fallback
remembered per endpoint, stage 3 refusing unknown uncertainty, and ``allabel llm check``."""

from __future__ import annotations

from pathlib import Path

import pytest

from allabel.core.config import get_settings
from allabel.core.errors import LLMError
from allabel.ingest import ingest_path
from allabel.predict import predict_split
from allabel.select.run import SelectParams, select
from tests.fake_openai import FakeOpenAI

DATA = Path(__file__).parent / "data"
POOL = ["Heparin was given .", "Warfarin too .", "Caffeine last .", "Lithium caused tremor .",
        "Cocaine and seizures .", "Aspirin for fever .", "Digoxin toxicity .", "Ethanol again ."]


def _env(monkeypatch, url: str, **extra: str) -> None:
    env = {"ALLABEL_LLM_BASE_URL": url, "ALLABEL_LLM_MODEL": "fake-model",
           "ALLABEL_LLM_MAX_RETRIES": "2", "ALLABEL_LLM_BACKOFF": "0.01",
           "ALLABEL_LLM_TIMEOUT": "5", "ALLABEL_LLM_CONCURRENCY": "2", **extra}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()


@pytest.fixture()
def toy(db_url, tmp_path):
    ingest_path(DATA / "small.tsv", "toy", "train")
    (tmp_path / "p.txt").write_text("\n".join(POOL) + "\n")
    ingest_path(tmp_path / "p.txt", "toy", "test")
    return tmp_path


def _perplexities(conn) -> list:
    return [r[0] for r in conn.execute("SELECT perplexity FROM predictions ORDER BY id")]


@pytest.mark.parametrize("shape", ["openai", "vllm", "llamacpp", "ollama", "strict"])
def test_every_server_shape_with_logprobs_records_perplexities(conn, toy, monkeypatch, shape):
    with FakeOpenAI(shape=shape) as srv:
        _env(monkeypatch, srv.url)
        st = predict_split("toy", "test", "train", k=1, show_progress=False)
    assert st.processed == len(POOL)
    ppl = _perplexities(conn)
    assert len(ppl) == len(POOL) and all(p is not None and p > 1.0 for p in ppl)
    sent = srv.requests[-1]
    assert sent["logprobs"] is True
    if shape == "strict":  # rejected once, then never sent again
        assert "top_logprobs" not in sent
        # at most once per request already in flight (concurrency 2)
        assert 1 <= sum(1 for r in srv.requests if "top_logprobs" in r) <= 2
        row = conn.execute("SELECT dropped_fields, logprobs FROM llm_endpoints").fetchone()
        assert row == (["top_logprobs"], True)
    else:
        assert sent["top_logprobs"] == 0  # llama.cpp answers null without it, vLLM < 0.5 a 400
        assert len(srv.requests) == len(POOL)


@pytest.mark.parametrize("shape", ["lmstudio", "ollama-old"])
def test_servers_without_logprobs_leave_perplexity_unknown(conn, toy, monkeypatch, shape):
    with FakeOpenAI(shape=shape) as srv:
        _env(monkeypatch, srv.url)
        predict_split("toy", "test", "train", k=1, show_progress=False)
    assert _perplexities(conn) == [None] * len(POOL)  # unknown, never 0
    assert conn.execute("SELECT logprobs FROM llm_endpoints").fetchone()[0] is False


def test_llamacpp_without_top_logprobs_gives_none(conn, toy, monkeypatch):
    """The reported bug: llama.cpp answers "logprobs": null to logprobs alone."""
    srv = FakeOpenAI(shape="llamacpp")
    body = {"model": "m", "messages": [{"role": "user", "content": "Sentence: Heparin ."}],
            "logprobs": True}
    assert srv.answer(body, "ok")["choices"][0]["logprobs"] is None
    assert srv.answer({**body, "top_logprobs": 0}, "ok")["choices"][0]["logprobs"]["content"]


def test_strict_server_memory_survives_a_new_process(conn, toy, monkeypatch):
    """The rejected field is stored per endpoint: a new backend (another process) never sends it."""
    from allabel.llm import openai_backend

    with FakeOpenAI(shape="strict") as srv:
        _env(monkeypatch, srv.url)
        predict_split("toy", "test", "train", k=1, limit=1, show_progress=False)
        openai_backend._DROPPED.clear()  # as if in a fresh process: only the table remembers
        n = len(srv.requests)
        b = openai_backend.OpenAIBackend()
        assert b.dropped == {"top_logprobs"}
        b.complete([{"role": "user", "content": "Sentence: Heparin ."}], 16, 0.0)
        assert len(srv.requests) == n + 1 and "top_logprobs" not in srv.requests[-1]


def test_unrelated_400_is_not_retried_without_fields(conn, toy, monkeypatch):
    from allabel.llm import openai_backend

    with FakeOpenAI(models=("other",)) as srv:  # 404 model not found
        _env(monkeypatch, srv.url)
        with pytest.raises(LLMError, match="HTTP 404"):
            openai_backend.OpenAIBackend().complete([{"role": "user", "content": "x"}], 8, 0.0)
        assert len(srv.requests) == 1 and srv.requests[0]["top_logprobs"] == 0


# ---- stage 3 ------------------------------------------------------------------------------
def _uncertainty_select() -> SelectParams:
    return SelectParams("toy", "2", "uncertainty", oracle=True, k=1, uncertainty_candidates=6,
                        pool_splits=["pool"])


@pytest.fixture()
def pooled(db_url, tmp_path):
    ingest_path(DATA / "small.tsv", "toy", "train")
    (tmp_path / "p.txt").write_text("\n".join(POOL) + "\n")
    ingest_path(tmp_path / "p.txt", "toy", "pool")
    return tmp_path


def test_stage3_refuses_unknown_uncertainty_naming_endpoint_and_cause(conn, pooled, monkeypatch,
                                                                      cli):
    with FakeOpenAI(shape="lmstudio") as srv:
        _env(monkeypatch, srv.url)
        code, out, err = cli("select", "--dataset", "toy", "--budget", "2", "--strategy",
                             "uncertainty", "--oracle", "--k", "1", "--uncertainty-candidates", "6",
                             "--pool-splits", "pool")
    assert code == 5
    assert "stage 3 (uncertainty) refused" in err and "0 of 6 candidates" in err
    assert srv.url in err and "no log-probs" in err
    row = conn.execute("SELECT status, stats->>'perplexity_known_share' FROM runs "
                       "WHERE kind='selection'").fetchone()
    assert row == ("failed", "0.0")
    assert conn.execute("SELECT count(*) FROM selections WHERE stage='uncertainty'").fetchone()[0] == 0
    bi = conn.execute("SELECT perplexity_known_share FROM bi.selection_summary").fetchone()[0]
    assert bi == 0.0


def test_stage3_with_logprobs_stores_and_shows_known_share(conn, pooled, monkeypatch, cli):
    with FakeOpenAI(shape="llamacpp") as srv:
        _env(monkeypatch, srv.url)
        code, out, err = cli("select", "--dataset", "toy", "--budget", "2", "--strategy",
                             "uncertainty", "--oracle", "--k", "1", "--uncertainty-candidates", "6",
                             "--pool-splits", "pool")
        assert code == 0, err
        assert "perplexity known for 100% of 6 candidates" in out
        code, out, _ = cli("usage")
    line = [ln for ln in out.splitlines() if "selection" in ln][0]
    assert "100%" in line
    assert conn.execute("SELECT perplexity_known_share FROM bi.selection_summary").fetchone()[0] == 1.0


def test_stage3_tolerates_a_small_share_of_unknown(conn, pooled, monkeypatch):
    with FakeOpenAI(shape="openai") as srv:
        srv.script = ["nologprobs"]  # one of six: 83% known
        _env(monkeypatch, srv.url, ALLABEL_LLM_MIN_KNOWN_PERPLEXITY="0.8",
             ALLABEL_LLM_CONCURRENCY="1")
        r = select(_uncertainty_select(), show_progress=False)
    assert r.status == "done" and r.perplexity_known_share == pytest.approx(5 / 6, abs=1e-3)


# ---- allabel llm check --------------------------------------------------------------------
def test_llm_check_on_a_good_server(db_url, monkeypatch, cli):
    with FakeOpenAI(shape="llamacpp", models=("fake-model", "other")) as srv:
        _env(monkeypatch, srv.url)
        code, out, err = cli("llm", "check")
    assert code == 0, out + err
    assert "yes (2 models)" in out and "fake-model: found" in out
    assert "log-probs    yes" in out and "JSON answer  ok (Aspirin/Chemical)" in out
    assert "answer tokens/s" in out and "can rank by uncertainty" in out


@pytest.mark.parametrize("case", ["lmstudio", "unknown-model", "unreachable"])
def test_llm_check_on_a_broken_server(db_url, monkeypatch, cli, case):
    if case == "unreachable":
        with FakeOpenAI() as srv:
            url = srv.url  # nothing listens there once the block ends
        _env(monkeypatch, url, ALLABEL_LLM_MAX_RETRIES="0")
        code, out, _ = cli("llm", "check")
        assert code == 5 and "reachable    NO" in out
        return
    models = ("other",) if case == "unknown-model" else ("fake-model",)
    with FakeOpenAI(shape="lmstudio", models=models) as srv:
        _env(monkeypatch, srv.url)
        code, out, _ = cli("llm", "check")
    assert code == 5 and "yes (1 models)" in out
    if case == "unknown-model":
        assert "NOT in the endpoint's model list" in out and "request      FAILED" in out
    else:
        assert "fake-model: found" in out
        assert "log-probs    NO" in out and "CANNOT rank by uncertainty" in out


# ---- rate limits --------------------------------------------------------------------------
def test_duration_formats():
    from allabel.llm.openai_backend import parse_duration, server_wait

    assert parse_duration("1.5") == 1.5 and parse_duration("20ms") == pytest.approx(0.02)
    assert parse_duration("6m0s") == 360 and parse_duration("1h2m3.5s") == pytest.approx(3723.5)
    assert parse_duration("soon") is None
    assert server_wait({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert server_wait({"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "500ms"}) == 2


@pytest.mark.parametrize("what,wait", [("429ra", "1"), ("429reset", "800ms"), ("exhausted", "700ms")])
def test_rate_limit_headers_are_honoured(db_url, monkeypatch, what, wait):
    """The next request waits what the server said (exponential backoff here would be 0.01 s)."""
    from allabel.llm.openai_backend import OpenAIBackend, parse_duration

    with FakeOpenAI() as srv:
        srv.script, srv.retry_after = [what], wait
        _env(monkeypatch, srv.url)
        b = OpenAIBackend()
        msgs = [{"role": "user", "content": "Sentence: Heparin ."}]
        comp = b.complete(msgs, 16, 0.0)
        if what == "exhausted":  # the answer came, the *next* request waits for the reset
            assert comp.retries == 0
            b.complete(msgs, 16, 0.0)
        else:
            assert comp.retries == 1 and comp.token_logprobs
    assert len(srv.times) == 2
    assert srv.times[1] - srv.times[0] >= parse_duration(wait) - 0.05


# ---- structured output ----------------------------------------------------------------------
def test_json_schema_is_sent_parsed_and_keyed_apart(conn, toy, monkeypatch):
    with FakeOpenAI(shape="openai") as srv:
        _env(monkeypatch, srv.url, ALLABEL_LLM_RESPONSE_FORMAT="json_schema")
        predict_split("toy", "test", "train", k=1, limit=2, show_progress=False)
        rf = srv.requests[-1]["response_format"]
        assert rf["type"] == "json_schema" and rf["json_schema"]["schema"]["required"] == ["entities"]
        rows = conn.execute("SELECT p.parse_status, c.answer FROM predictions p "
                            "JOIN llm_calls c ON c.id = p.call_id ORDER BY p.id").fetchall()
        assert [r[0] for r in rows] == ["ok", "ok"] and rows[0][1].startswith('{"entities"')
        ents = conn.execute("SELECT text FROM entities WHERE source='llm' ORDER BY id").fetchall()
        assert ents == [("Heparin",), ("Warfarin",)]
        # without structured output the same prompts are different requests (not cache hits)
        _env(monkeypatch, srv.url, ALLABEL_LLM_RESPONSE_FORMAT="none")
        n = len(srv.requests)
        conn.execute("DELETE FROM predictions")
        conn.commit()
        predict_split("toy", "test", "train", k=1, limit=2, show_progress=False)
        assert len(srv.requests) == n + 2 and "response_format" not in srv.requests[-1]


def test_server_without_structured_output_falls_back_to_the_tolerant_parser(conn, toy, monkeypatch):
    with FakeOpenAI(shape="strict") as srv:
        _env(monkeypatch, srv.url, ALLABEL_LLM_RESPONSE_FORMAT="json_schema",
             ALLABEL_LLM_CONCURRENCY="1")
        predict_split("toy", "test", "train", k=1, limit=3, show_progress=False)
    assert "response_format" not in srv.requests[-1] and "top_logprobs" not in srv.requests[-1]
    assert conn.execute("SELECT dropped_fields FROM llm_endpoints").fetchone()[0] == [
        "response_format", "top_logprobs"]
    assert [r[2] for r in conn.execute("SELECT status, perplexity, parse_status FROM predictions")
            ] == ["ok"] * 3


def test_after_a_refusal_the_same_command_works_once_the_endpoint_gives_logprobs(
        conn, pooled, monkeypatch, cli):
    """The reported story: answers cached without log-probs; the server is fixed; `llm check`
    sees log-probs; the same select asks those again and ranks by known perplexities."""
    args = ("select", "--dataset", "toy", "--budget", "2", "--strategy", "uncertainty", "--oracle",
            "--k", "1", "--uncertainty-candidates", "6", "--pool-splits", "pool")
    with FakeOpenAI(shape="llamacpp") as srv:
        srv.default = "nologprobs"
        _env(monkeypatch, srv.url)
        assert cli(*args)[0] == 5
        n = len(srv.requests)
        assert n == 6
        code, _, err = cli(*args)  # unchanged endpoint: served from the cache, refused again
        assert code == 5 and len(srv.requests) == n and "0 of 6 candidates" in err
        srv.default = "ok"
        code, out, _ = cli("llm", "check")
        assert code == 0 and "log-probs    yes" in out
        code, out, err = cli(*args)
        assert code == 0, err
        assert "perplexity known for 100% of 6 candidates" in out
        assert len(srv.requests) == n + 1 + 6  # the check, then the six asked again
    assert conn.execute("SELECT count(*) FROM llm_calls WHERE token_logprobs IS NULL").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM selections WHERE stage = 'uncertainty'").fetchone()[0] == 2
