"""Configuration in one place: environment over allabel.toml over defaults; secrets never from
the file and never in reprs."""

from __future__ import annotations

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
