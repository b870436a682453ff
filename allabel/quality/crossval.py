"""The cross-validation estimate: K folds over the annotated sentences that are neither audit
nor review picks; each fold is predicted with demonstrations retrieved from the other folds
only, with the run's k, model and prompt, and scored against its annotations.

Free of extra annotation, but biased toward what selection picked (selected sentences are not a
random sample of the corpus: diverse, representative, uncertain), so it is shown beside the
audit, never mixed with it. Each fold is a prediction run of its own (``params.quality_of`` = the
measured run, ``purpose`` = cross-validation, ``fold`` / ``folds``, ``pool`` = a hash of the
annotations), so an interrupted ``quality`` resumes and a repeated one asks the LLM nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from allabel.predict import DemoPool, predict_sentences
from allabel.quality.data import Sample, labels_of, sample
from allabel.quality.runs import check_same_llm, companion_params
from allabel.store import db, runs

FOLDS = 5
FOLD_SEED = 0


@dataclass
class Folds:
    """Which fold each annotated sentence is in, and the prediction run of each fold."""

    members: list[list[int]]
    runs: list[int] = field(default_factory=list)
    calls: int = 0
    requests: int = 0


def assign(ids: list[int], folds: int, seed: int = FOLD_SEED) -> list[list[int]]:
    """``folds`` disjoint folds covering ``ids`` (a seeded shuffle dealt round-robin), each sorted."""
    order = np.random.default_rng(seed).permutation(sorted(ids))
    return [sorted(int(x) for x in order[f::folds]) for f in range(folds)]


def pool_hash(pool: DemoPool) -> str:
    """A hash of the annotations (sentences and spans): new or changed annotations make new folds."""
    body = json.dumps([[i, pool.demos[i].entities] for i in sorted(pool.demos)], default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def truth_of(pool: DemoPool, ids: list[int]) -> list[dict[str, Any]]:
    """The annotations of ``ids`` in the pool, as truth rows."""
    return [{"sentence_id": i, "start_char": s, "end_char": e, "label": lab}
            for i in ids for s, e, lab, _ in pool.demos[i].entities]


def crossval_sample(run: dict[str, Any], url: str, backend: Any, folds: int = FOLDS,
                    show_progress: bool = True) -> tuple[Sample | None, Folds | None]:
    """(the cross-validation Sample, its Folds); (None, None) with fewer than 2 annotated sentences."""
    with db.connection(url) as conn:
        pool = DemoPool.from_annotated(conn, run["dataset_id"], with_review=False)
        labels = labels_of(conn, run["id"])
    ids = sorted(pool.ids)
    if len(ids) < 2:
        return None, None
    check_same_llm(run, backend)
    k = min(folds, len(ids))
    fs = Folds(assign(ids, k))
    digest = pool_hash(pool)
    for f, members in enumerate(fs.members, start=1):
        others = set(ids) - set(members)
        sub = pool.subset(others, f"annotated:cv{f}/{k}:{digest}")
        with db.connection(url) as conn:
            fold_run = runs.open_run(conn, "prediction", run["dataset_id"], companion_params(
                run, sub.source, "cross-validation", fold=f, folds=k, fold_seed=FOLD_SEED, pool=digest)).id
        st = predict_sentences(fold_run, members, sub, run["params"]["k"], url, show_progress)
        fs.runs.append(fold_run)
        fs.calls += st.calls
        fs.requests += st.requests
    with db.connection(url) as conn:
        s = sample(conn, dict(zip(fs.runs, fs.members, strict=True)), labels, truth_of(pool, ids))
    return s, fs
