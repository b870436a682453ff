"""What ``allabel predict`` would ask, before anything is asked (``--estimate``).

The prompts are the real ones (the run's pending sentences, then the split's sentences it has not
seen, with their retrieved demonstrations), priced by ``allabel.llm.costing``: nothing here calls
the LLM or writes to the database.
"""

from __future__ import annotations

from allabel.llm import get_backend
from allabel.llm.costing import Costing, Estimate
from allabel.predict.demos import DemoPool
from allabel.predict.identity import run_params
from allabel.predict.jobs import labels
from allabel.store import db, runs
from allabel.store.sqlfiles import queries

Q = queries("predict")


def estimate_predict(dataset: str, split: str, demos: str, k: int = 4,
                     limit: int | None = None, url: str | None = None,
                     new: bool = False, workers: int = 1) -> Estimate:
    """What ``allabel predict`` with these options would ask, without asking."""
    backend = get_backend()
    with db.connection(url) as conn:
        ds = db.dataset_id(conn, dataset)
        pool = DemoPool.resolve(conn, ds, demos)
        found = runs.find(conn, "prediction", run_params(ds, split, pool, k, backend))
        run_id = found["id"] if found else None
        have = db.scalar(conn, Q.count_run_predictions, {"run_id": run_id}) if run_id is not None else 0
        room = None if limit is None else max(limit - have, 0)
        find = Q.pending_or_new_worklist if new else Q.pending_or_new
        ids = [r["sentence_id"] for r in db.rows(conn, find, {
            "run_id": run_id, "dataset_id": ds, "split": split, "room": room})]
        texts = {r["id"]: r["text"] for r in db.rows(conn, Q.texts, {"ids": ids})}
        prompts = pool.prompts(conn, labels(conn, ds), [(texts[i], i) for i in ids], k)
        return Costing(conn, backend, workers).estimate(conn, [m for _, m in prompts])
