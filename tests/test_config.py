"""Configuration in one place: environment over allabel.toml over defaults; secrets never from
the file and never in reprs."""

from __future__ import annotations

import os

from allabel.core.config import Settings, get_settings


def test_precedence_and_secrets(tmp_path, monkeypatch):
    cfg = tmp_path / "allabel.toml"
    cfg.write_text('threads = 3\nllm_model = "from-file"\nllm_concurrency = 8\n'
                   'llm_api_key = "file-key-must-be-ignored"\n')
    monkeypatch.setenv("ALLABEL_CONFIG", str(cfg))
    for var in ("ALLABEL_THREADS", "ALLABEL_LLM_MODEL", "ALLABEL_LLM_API_KEY", "OPENAI_API_KEY",
                "ALLABEL_LLM_BASE_URL", "OPENAI_BASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert (s.threads, s.llm_model, s.llm_concurrency) == (3, "from-file", 8)
    assert s.api_key() is None  # the key is never read from the file
    assert s.effective_llm_backend == "local"
    monkeypatch.setenv("ALLABEL_THREADS", "2")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    s = Settings()
    assert s.threads == 2 and s.api_key() == "sk-env-secret"
    assert s.effective_llm_backend == "openai"
    assert "sk-env-secret" not in repr(s) and "sk-env-secret" not in str(s.model_dump())
    key = tmp_path / "key"
    key.write_text("sk-from-file\n")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("ALLABEL_LLM_API_KEY_FILE", str(key))
    assert Settings().api_key() == "sk-from-file"


def test_default_is_one_thread(monkeypatch, tmp_path):
    monkeypatch.setenv("ALLABEL_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("ALLABEL_THREADS", raising=False)
    get_settings.cache_clear()
    assert get_settings().threads == 1
    get_settings.cache_clear()


def test_malformed_setting_is_one_line_naming_it_and_its_source_exit_3(tmp_path):
    """A malformed numeric setting (an injection attempt included) stops every command before
    any SQL runs: one line naming the setting and where it was set, exit 3, no traceback."""
    from tests.cli_jobs import run

    base = {k: v for k, v in os.environ.items() if not k.startswith("ALLABEL_")}
    base["ALLABEL_CONFIG"] = str(tmp_path / "none.toml")
    base["ALLABEL_HOME"] = str(tmp_path / "home")
    cases = [({"ALLABEL_BM25_K1": "1.2); DROP TABLE allabel.sentences; --"},
              ["search", "--dataset", "x", "q"], "ALLABEL_BM25_K1"),
             ({"ALLABEL_EMBED_BATCH_SIZE": "1; DROP TABLE x"}, ["embed", "--dataset", "x"],
              "ALLABEL_EMBED_BATCH_SIZE"),
             ({"ALLABEL_DB_RETRY_SECONDS": "soon"}, ["datasets"], "ALLABEL_DB_RETRY_SECONDS")]
    cases.append(({"ALLABEL_LLM_PRICES": "{bad"}, ["usage"], "ALLABEL_LLM_PRICES"))
    toml = tmp_path / "bad.toml"
    toml.write_text('bm25_b = "0.75; DROP"\n')
    cases.append(({"ALLABEL_CONFIG": str(toml)}, ["datasets"], f"{toml} key bm25_b"))
    broken = tmp_path / "broken.toml"
    broken.write_text("bm25_b = \n")
    cases.append(({"ALLABEL_CONFIG": str(broken)}, ["datasets"], f"{broken}: not valid TOML"))
    for env, args, named in cases:
        r = run(args, {**base, **env}, timeout=60, replace_env=True)
        assert r.returncode == 3, (env, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / "home").exists()
