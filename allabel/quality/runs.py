"""The prediction runs quality makes itself (audit companions, cross-validation folds): the
parameters of the run they measure, plus ``quality_of`` (that run) and ``purpose``, so they are
identifiable, resumable, and never taken for the dataset's latest prediction run."""

from __future__ import annotations

from typing import Any

from allabel.core.errors import ConfigError
from allabel.predict import llm_identity

# the parameters of a prediction run that a quality run shares (its split is not one of them)
SHARED = ("dataset_id", "k", "backend", "model", "prompt", "endpoint", "max_tokens", "temperature")


def companion_params(run: dict[str, Any], demos: str, purpose: str, **extra: Any) -> dict[str, Any]:
    return {**{k: run["params"][k] for k in SHARED if k in run["params"]}, "demos": demos,
            "quality_of": run["id"], "purpose": purpose, **extra}


def check_same_llm(run: dict[str, Any], backend: Any) -> None:
    """Quality predicts with the run's model and prompt, or not at all."""
    now = llm_identity(backend)
    was = {k: run["params"].get(k) for k in now}
    if now != was:
        raise ConfigError(f"prediction run {run['id']} was made with {was} but the configured LLM is "
                          f"{now}: configure the run's LLM to let quality predict (docs/quality.md)")
