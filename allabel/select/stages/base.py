"""What every selection stage shares: the context a stage picks in, and the stage interface.

A stage is one object with ``pick(context, n)``: it returns exactly ``n`` pool sentences that no
earlier stage picked, with the score that chose each (None where a stage has no score). It reads
what it needs through the :class:`StageContext` (the pool, the mask of earlier picks, the
vectors, the run's parameters) and writes nothing but its own side data (stage 3's LLM answers);
``allabel.select.run`` records the picks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import psycopg
from psycopg.rows import dict_row

from allabel.core.errors import ConfigError
from allabel.retrieval.embed import load_vectors
from allabel.select.params import SelectParams
from allabel.select.pool_filters import extra_blocked
from allabel.store.sqlfiles import queries

Q = queries("select")

Picks = tuple[list[int], list[float | None]]


@dataclass
class StageContext:
    """Everything a stage may read. ``pool`` is sorted by sentence id; ``picked`` is a mask over
    it of the sentences earlier stages chose, ``picked_order`` their pool indices in the order
    they were chosen (both set with :meth:`set_picked`). ``run_id`` is None
    when nothing is recorded (``allabel select --estimate`` computes picks in memory)."""

    conn: psycopg.Connection
    url: str | None
    dataset_id: int
    run_id: int | None
    pool: list[int]
    params: SelectParams
    show_progress: bool = False
    workers: int = 1  # local processes for the LLM calls of a stage (not part of identity)
    picked: np.ndarray = field(init=False)
    picked_order: np.ndarray = field(init=False)
    _index: dict[int, int] = field(init=False, repr=False)
    _vectors: np.ndarray | None = field(default=None, init=False, repr=False)
    #: the run's place in the dataset's campaign (allabel.select.exclusion.Campaign; None: none)
    campaign: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {sid: i for i, sid in enumerate(self.pool)}
        self.set_picked([])

    def set_picked(self, sentence_ids: list[int]) -> None:
        """Mark the sentences chosen so far, in rank order (ids outside the pool are ignored)."""
        self.picked_order = np.array([self._index[s] for s in sentence_ids if s in self._index],
                                     np.int64)
        self.picked = np.zeros(len(self.pool), bool)
        self.picked[self.picked_order] = True

    def unpicked(self) -> list[int]:
        """Pool sentence ids no earlier stage chose, in pool (id) order."""
        return [sid for sid, taken in zip(self.pool, self.picked, strict=True) if not taken]

    def vectors(self) -> np.ndarray:
        """The pool's embeddings, rows in pool order (read once per context)."""
        if self._vectors is None:

            ids, X = load_vectors(self.conn, self.dataset_id, sentence_ids=self.pool)
            if len(ids) != len(self.pool):
                raise ConfigError(f"{len(self.pool) - len(ids)} pool sentences have no embedding: "
                                  f"run `allabel embed --dataset ...` first")
            self._vectors = X  # ids come back sorted like the pool
        return self._vectors

    def blocked(self) -> np.ndarray:
        """The mask stages 1 and 2 (and the random baseline) may not pick: earlier picks, and
        with ``--length-floor Q`` the sentences with fewer tokens than the pool's Q-quantile;
        with ``+clean``/``+ent`` also duplicate texts and low entity priors (pool_filters.py),
        and then stage 3's candidates too (``stage3_filters``)."""
        out = self.picked.copy()
        floor = self.params.length_floor
        if floor > 0:
            with self.conn.cursor(row_factory=dict_row) as cur:
                n = np.array([r["n"] for r in cur.execute(Q.token_counts, {"ids": self.pool})],
                             np.float64)
            out |= n < np.quantile(n, floor)
        return out | extra_blocked(self)


class Stage:
    """One selection stage. Subclasses set ``name`` (stored in ``selections.stage``) and
    implement :meth:`pick`."""

    name: ClassVar[str]
    #: the letter of an ALLabel stage in ``--order`` and ``allabel:<letters>`` (None: a baseline)
    letter: ClassVar[str | None] = None
    #: the picks of earlier stages must be annotated before this stage can run (stage 3 prompts
    #: with them as demonstrations); without ``--oracle`` the run waits at awaiting_annotation
    needs_annotations: ClassVar[bool] = False
    #: the stage asks the LLM (what ``allabel select --estimate`` prices)
    asks_llm: ClassVar[bool] = False
    #: the stage reads sentence embeddings (``allabel demo`` embeds the pool only then)
    reads_vectors: ClassVar[bool] = False
    #: ``--seed`` can change the picks (random's sample; stage 3's candidate sample when capped);
    #: an experiment's other seeds of a seed-free plan repeat seed 0's prompts, which are cached
    uses_seed: ClassVar[bool] = False

    def pick(self, ctx: StageContext, n: int) -> Picks:
        """Exactly ``n`` distinct pool sentence ids not picked before, and a score for each."""
        raise NotImplementedError
