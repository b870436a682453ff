"""What an OpenAI-compatible endpoint accepts, remembered in ``llm_endpoints``.

Servers differ: one rejects ``top_logprobs``, another answers ``"logprobs": null`` without it.
When a server rejects an optional request field, the backend drops it, retries once and stores the
fact here, so later runs (and other workers) never send it again. The table is an optimisation
and a diagnostic (``allabel llm check``, the stage-3 refusal message): when the database cannot be
reached the backend still works from its in-process memory.
"""

from __future__ import annotations

import logging

from allabel.core.secrets import mask_url  # stored endpoints never carry a password
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("llm")
log = logging.getLogger(__name__)


def load(base_url: str, model: str) -> tuple[set[str], bool | None]:
    """(fields the endpoint rejected, did its last answer carry log-probs)."""
    try:
        with db.connection() as conn:
            row = db.one(conn, Q.endpoint_get, {"base_url": mask_url(base_url), "model": model})
    except Exception as e:  # noqa: BLE001 - memory only; the backend works without the table
        log.debug("llm_endpoints not readable: %s", type(e).__name__)
        return set(), None
    return (set(row["dropped_fields"]), row["logprobs"]) if row else (set(), None)


def save(base_url: str, model: str, dropped: set[str] | None = None,
         logprobs: bool | None = None) -> None:
    """Upsert what was learnt (``None`` leaves a column as it was)."""
    try:
        with db.connection() as conn:
            conn.execute(Q.endpoint_save, {"base_url": mask_url(base_url), "model": model,
                                           "dropped": sorted(dropped) if dropped is not None else None,
                                           "logprobs": logprobs})
            conn.commit()
    except Exception as e:  # noqa: BLE001
        log.debug("llm_endpoints not writable: %s", type(e).__name__)
