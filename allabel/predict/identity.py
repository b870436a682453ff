"""A prediction run's identity: everything that changes its result, hashed by ``allabel.store.runs``.

Running the same command again continues the same run, so this dict must never change for the
same options (a changed key starts every run of the lead's experiments over): dataset, split,
demonstration source (``run:N`` / ``split:NAME``), k, backend, model, endpoint, prompt version and
decoding. Options that only choose *which* sentences or *how fast* (``--limit``, ``--new``,
``--workers``) are not part of it.
"""

from __future__ import annotations

from typing import Any

import psycopg

from allabel.core.config import get_settings
from allabel.core.secrets import mask_url
from allabel.predict.demos import DemoPool
from allabel.predict.prompt import prompt_version
from allabel.store import runs

config_key = runs.config_key  # the one identity function (allabel.estimate uses this name)


def llm_identity(backend: Any) -> dict[str, Any]:
    """Backend, model, endpoint (masked; only when there is one) and prompt version."""
    out: dict[str, Any] = {"backend": backend.name, "model": backend.model, "prompt": prompt_version()}
    endpoint = getattr(backend, "base_url", None)
    if endpoint:
        out["endpoint"] = mask_url(endpoint)
    return out


def run_params(dataset_id: int, split: str, demos: DemoPool, k: int, backend: Any) -> dict[str, Any]:
    """Everything that changes a prediction run's result (its identity, see allabel.store.runs)."""
    s = get_settings()
    return {"dataset_id": dataset_id, "split": split, "demos": demos.source, "k": k,
            **llm_identity(backend),
            "max_tokens": s.llm_max_tokens, "temperature": s.llm_temperature}


def prediction_run(conn: psycopg.Connection, dataset_id: int, split: str, demos: DemoPool,
                   k: int, backend: Any) -> int:
    """The run for this configuration (created on first use, continued afterwards)."""
    return runs.open_run(conn, "prediction", dataset_id,
                         run_params(dataset_id, split, demos, k, backend)).id
