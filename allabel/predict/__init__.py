"""LLM entity recognition over a set of sentences, with Postgres as the queue.

One module per concern:

* ``demos`` — where demonstrations come from (``DemoPool``: a selection run's annotations or a
  split's gold) and BM25 retrieval over them;
* ``identity`` — a prediction run's parameters (its identity: the same command continues it);
* ``step`` — the batch step a worker repeats: claim → prompt → ask → parse → store, with no
  database transaction open while the LLM computes;
* ``jobs`` — the public jobs: ``predict_split`` (``allabel predict``), ``predict_sentences``
  (a selection run's stage 3), ``process`` (drain a run's queue with N workers).

The worker loop itself (reconnects, stop requests, the process pool) is ``allabel.store.queue``.
"""

from allabel.predict.demos import DemoPool
from allabel.predict.identity import config_key, llm_identity, prediction_run, run_params
from allabel.predict.jobs import (
    Q,
    enqueue,
    failures,
    labels,
    predict_sentences,
    predict_split,
    prepare_run,
    process,
    run_summary,
    run_worker,
)
from allabel.predict.step import PredictStats, store_answer

__all__ = ["DemoPool", "PredictStats", "Q", "config_key", "enqueue", "failures", "labels",
           "llm_identity", "predict_sentences", "predict_split", "prediction_run", "prepare_run",
           "process", "run_params", "run_summary", "run_worker", "store_answer"]
