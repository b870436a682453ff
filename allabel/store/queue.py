"""One worker loop for every queue kept in Postgres (embed, predict): claim → process → commit.

Why one module: the two queues need the same guarantees and nothing else. A job hands
:func:`drain` its *step* — one batch: claim rows, do the work, commit what is finished, return how
many items were finished (0 = nothing left for this worker). ``drain`` runs the step again and
again on one connection under the database retry policy (``allabel.store.db.retrying``, tenacity): when
the server goes away, the connection is re-opened with backoff and the step runs again — a step
must therefore be safe to repeat (an unfinished claim is pending again). A stop request
(SIGINT/SIGTERM, ``allabel.store.runs``) is honoured between steps.

:func:`run_workers` runs a worker in this process (with a progress bar) or in N spawned
processes (``ProcessPoolExecutor``): the parent's SIGINT/SIGTERM reaches them through a shared
event, and a worker that dies fails the job with one line instead of hanging it.

The shape follows pgai's vectorizer worker (one loop, the batch step apart). How a step claims is
its own business: embedding holds its claim's row locks while it encodes (a second of CPU);
prediction commits its claim and holds session advisory locks instead, so that no transaction is
open while the LLM answers (``allabel.predict.step``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from allabel.core.errors import AllabelError
from allabel.store import db, runs

Step = Callable[[psycopg.Connection], int]


@dataclass
class Drained:
    items: int = 0
    batches: int = 0


def drain(step: Step, url: str | None = None, *, progress: Any = None,
          max_batches: int | None = None,
          on_connect: Callable[[psycopg.Connection], Any] | None = None,
          on_close: Callable[[psycopg.Connection], Any] | None = None) -> Drained:
    """Run ``step(conn)`` until it returns 0, a stop is requested or ``max_batches`` ran.

    The connection is in autocommit mode: a step opens its own short transactions.
    ``on_connect`` re-establishes session state after a reconnect (a run's lease lock);
    ``on_close`` releases it before the connection is closed."""
    out = Drained()
    link = db.Link(url, autocommit=True, on_connect=on_connect)
    try:
        while max_batches is None or out.batches < max_batches:
            if runs.stop_requested():
                break
            n = link.run(step)
            if n == 0:
                break
            out.items += n
            out.batches += 1
            if progress is not None:
                progress.update(n)
    finally:
        link.close(last=on_close)
    return out


def run_workers(main: Callable[[Any, Any], Any], args: Any, workers: int, *, total: int,
                desc: str, show_progress: bool = True) -> list[Any]:
    """``main(args, progress)`` once here with a progress bar over ``total`` items
    (``workers`` <= 1), else in ``workers`` processes (``progress`` None); their results.
    ``main`` must be a module-level function (it is pickled for the spawned processes)."""
    if workers <= 1:
        from allabel.core.progress import bar as progress_bar

        with progress_bar(total, desc=desc, unit="sent", show=show_progress) as bar:
            return [main(args, bar)]
    return in_processes(main, args, workers)


def _call(main: Callable[[Any, Any], Any], args: Any) -> Any:
    return main(args, None)


def in_processes(main: Callable[[Any, Any], Any], args: Any, workers: int) -> list[Any]:
    """``main(args, None)`` in ``workers`` spawned processes, each its own claim loop; the
    parent's SIGINT/SIGTERM reaches them through a shared event. A worker that dies (killed,
    crashed) fails the job with one line instead of hanging it (``multiprocessing.Pool`` would
    wait for its lost task for ever); what the other workers committed stays, a re-run continues."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    runs.add_stop_event(stop)
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=runs.worker_init,
                                 initargs=(stop,)) as ex:
            return [f.result() for f in [ex.submit(_call, main, args) for _ in range(workers)]]
    except BrokenProcessPool as e:
        raise AllabelError("a worker process died; finished batches are saved, run the same "
                           "command again to continue") from e
    finally:
        runs.remove_stop_event(stop)
