"""A planted secret — in the endpoint URL's userinfo and query string, the API key, the
database URL's password, the Label Studio token — never appears in anything a command prints
(stdout or stderr, success or failure) nor in what it stores, across many commands.

``allabel db url`` is the one exception by design: it prints a URI *with* its password for psql
or a BI tool (docs/operations.md), so it is run and checked apart.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import pytest

from allabel.core.config import get_settings
from tests.cli_jobs import TOY_TEST, configure_toy
from tests.fake_openai import FakeOpenAI

URL_PW, URL_TOKEN, API_KEY = "PLANTEDurlPW71", "PLANTEDqueryTOK72", "sk-PLANTEDkey73"
DB_PW, LS_TOKEN, LS_PW = "PLANTEDdbPW74", "PLANTEDlsTOKEN75", "PLANTEDlsPW76"
SECRETS = (URL_PW, URL_TOKEN, API_KEY, DB_PW, LS_TOKEN, LS_PW)


def _planted(url: str) -> str:
    """``url`` with user ``plant`` and password URL_PW, and ``?token=URL_TOKEN`` added."""
    p = urlsplit(url)
    return urlunsplit(p._replace(netloc=f"plant:{URL_PW}@{p.netloc}", query=f"token={URL_TOKEN}"))


@pytest.fixture()
def planted(db_url, monkeypatch, tmp_path):
    """The toy corpus behind a fake endpoint reached through a URL full of secrets; the test
    database's URL carries a password too (the local socket trusts it, so it still connects)."""
    p = urlsplit(db_url)
    user_host = p.netloc.rsplit("@", 1)
    netloc = (f"{user_host[0].split(':')[0]}:{DB_PW}@{user_host[1]}" if len(user_host) == 2
              else f"postgres:{DB_PW}@{p.netloc}")
    monkeypatch.setenv("DATABASE_URL", urlunsplit(p._replace(netloc=netloc)))
    with FakeOpenAI() as srv:
        configure_toy(srv, monkeypatch, tmp_path, {
            "ALLABEL_LLM_MODEL": "fake-model", "ALLABEL_LLM_API_KEY": API_KEY,
            "ALLABEL_LLM_MAX_RETRIES": "0", "ALLABEL_LLM_CONCURRENCY": "1",
            "ALLABEL_HOME": str(tmp_path / "home"),
            "ALLABEL_LABELSTUDIO_URL": f"http://ls:{LS_PW}@127.0.0.1:9/?token={LS_TOKEN}",
            "ALLABEL_LABELSTUDIO_API_KEY": LS_TOKEN}, TOY_TEST)
        monkeypatch.setenv("ALLABEL_LLM_BASE_URL", _planted(srv.url))
        get_settings.cache_clear()
        yield srv
    get_settings.cache_clear()


def test_planted_secrets_never_in_any_output_or_table(planted, cli, conn, monkeypatch, tmp_path):
    fake = planted
    predict = ("predict", "--dataset", "toy", "--split", "test", "--demos", "train", "--k", "1")
    outputs: list[tuple[tuple[str, ...], int, str]] = []

    def run(*args: str) -> int:
        code, out, err = cli(*args)
        outputs.append((args, code, out + err))
        for secret in SECRETS:  # checked at once: the first leak is the one reported
            assert secret not in out + err, (args, code, out + err)
        return code

    with FakeOpenAI() as gone:
        dead = _planted(gone.url)
    monkeypatch.setenv("ALLABEL_LLM_BASE_URL", dead)  # nothing listens there now
    get_settings.cache_clear()
    assert run("llm", "check") == 5  # unreachable: the first line is the endpoint's URL
    assert run(*predict, "--limit", "1") == 5
    monkeypatch.setenv("ALLABEL_LLM_BASE_URL", _planted(fake.url))
    get_settings.cache_clear()
    assert run("llm", "check") == 0  # reachable: every line, the endpoint line first
    assert run(*predict, "--estimate") == 0
    assert run(*predict, "--limit", "1", "--retry-failed") == 0
    fake.default = "500"
    assert run(*predict) == 5  # a failing endpoint: the error line and the stored error
    assert run("llm", "check") == 5
    fake.default = "ok"
    for args in (("usage",), ("usage", "--json"), ("runs",), ("runs", "--json"), ("datasets",),
                 ("db", "status"), ("sql", "SELECT * FROM llm_endpoints"),
                 ("sql", "SELECT params::text, error FROM runs"),
                 ("sql", "SELECT 1/0"),  # a database error
                 ("select", "--dataset", "toy", "--strategy", "random", "--budget", "1"),
                 ("labelstudio", "push", "3"), ("search", "--dataset", "nope", "x")):
        run(*args)
    monkeypatch.setenv("ALLABEL_LLM_BASE_URL", dead)
    get_settings.cache_clear()
    assert run("llm", "check") == 5
    assert run(*predict, "--retry-failed") == 5
    assert run(*predict, "--batch-api") == 5
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{DB_PW}@127.0.0.1:9/x?password={DB_PW}")
    monkeypatch.setenv("ALLABEL_DB_RETRIES", "0")
    get_settings.cache_clear()
    assert run("datasets") == 4  # an unreachable database
    assert run("db", "status") == 0

    assert len(outputs) >= 20
    for args, code, text in outputs:
        for secret in SECRETS:
            assert secret not in text, (args, code, text)
    checks = [text for args, _code, text in outputs if args == ("llm", "check")]
    assert len(checks) == 4 and all(t.startswith("endpoint     http://plant:***@127.0.0.1:")
                                    and "token=***" in t.splitlines()[0] for t in checks), checks
    stored = conn.execute(
        "SELECT concat_ws(' ', (SELECT string_agg(r::text, ' ') FROM runs r), "
        "(SELECT string_agg(e::text, ' ') FROM llm_endpoints e), "
        "(SELECT string_agg(p::text, ' ') FROM predictions p), "
        "(SELECT string_agg(c::text, ' ') FROM llm_calls c), "
        "(SELECT string_agg(b::text, ' ') FROM llm_batches b))").fetchone()[0]
    assert "fake-model" in stored and not any(s in stored for s in SECRETS)
    for f in (tmp_path / "home").rglob("*"):
        if f.is_file():
            assert not any(s.encode() in f.read_bytes() for s in SECRETS), f


def test_db_url_prints_the_password_on_purpose(planted, cli):
    code, out, _ = cli("db", "url")
    assert code == 0 and DB_PW in out  # the one command whose job is the full URI
    assert json.dumps(out)  # printed as one line
