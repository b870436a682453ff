"""The stage registry: every stage's ``pick`` keeps its contract on a real pool, an unknown stage
is a clear error before anything is written, and a selection run's identity is byte-for-byte
what it was before the stages became objects (existing databases continue their runs)."""

from __future__ import annotations

import numpy as np
import pytest

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError
from allabel.select import run as srun
from allabel.select import stages
from allabel.select.run import SelectParams, identity_params
from allabel.select.strategies import SingleStage
from allabel.store.runs import config_key

LOCAL_LLM = {"backend": "local", "model": "SmolLM2-135M-Instruct-Q4_1", "prompt": "ner-lines-v1"}
COMMON = {"dataset": "bc", "dataset_id": 3, "knn": 10, "model": "all-MiniLM-L6-v2", "order": "DSU",
          "ratio": "1:3:1", "similarity": "embedding"}
# (parameters, the identity dict and its key as computed on main before the stage registry)
IDENTITIES = [
    (SelectParams("bc", "5%", "allabel", seed=2, oracle=True, knn=10, k=4, pool_splits=["train"]),
     {**COMMON, "budget": "5%", "k": 4, "llm": LOCAL_LLM, "oracle": True, "pool_splits": ["train"],
      "seed": 2, "strategy": "allabel", "uncertainty_candidates": "10x"},
     "2dafcb91c7d8b8c2194f109ae65330ed2d6c972ab5f04431f2fbcd43904b5a9d"),
    (SelectParams("bc", None, "full", seed=1, oracle=True, k=1, pool_splits=["train"]),
     {**COMMON, "budget": None, "k": 1, "oracle": True, "pool_splits": ["train"], "seed": 1,
      "strategy": "full", "uncertainty_candidates": "10x"},
     "4ebc6f7f676a54e86dd4be029f92cb08be5c20a26969d953a72191d0730b5bf7"),
    (SelectParams("bc", "3", "allabel:SU", seed=0, oracle=True, uncertainty_candidates="4",
                  length_floor=0.5),
     # an ablation with stage 3 asks the LLM: since 2026-11-25 its identity names the LLM
     {**COMMON, "budget": "3", "k": 4, "length_floor": 0.5, "llm": LOCAL_LLM, "oracle": True,
      "pool_splits": None, "seed": 0, "strategy": "allabel:SU", "uncertainty_candidates": "4"},
     "fc2d64510669df1a7795754bbb636d0814d1091dce70b9a85f8b6ca29071e079"),
    (SelectParams("bc", "3", "allabel:DS", seed=0, oracle=True),
     {**COMMON, "budget": "3", "k": 4, "oracle": True, "pool_splits": None, "seed": 0,
      "strategy": "allabel:DS", "uncertainty_candidates": "10x"},
     "ff5100d040853a869b0cd593baa8446538774a777fbd9bf47fdf2e5faa332d09"),
    (SelectParams("bc", "3", "uncertainty", uncertainty_score="total"),
     {**COMMON, "budget": "3", "k": 4, "llm": LOCAL_LLM, "oracle": False, "pool_splits": None,
      "seed": 0, "strategy": "uncertainty", "uncertainty_candidates": "10x",
      "uncertainty_score": "total"},
     "65b1c209474ccd589d2ab971d81f9b0ec56e217d2aae897544da8110724c932f"),
    (SelectParams("bc", "7", "random"),
     {**COMMON, "budget": "7", "k": 4, "oracle": False, "pool_splits": None, "seed": 0,
      "strategy": "random", "uncertainty_candidates": "10x"},
     "1e14159d121411fdbff6dcf625d76293201f8c310d486f7ffe4dbf18c45ec9a8"),
]


@pytest.fixture()
def default_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("ALLABEL_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("ALLABEL_LLM_BACKEND", "local")
    for name in ("ALLABEL_LLM_LOCAL_MODEL", "ALLABEL_EMBED_MODEL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("params,expected,key", IDENTITIES, ids=[p.strategy for p, _, _ in IDENTITIES])
def test_run_identity_is_unchanged(default_settings, params, expected, key):
    got = identity_params(params, 3)
    assert got == expected
    assert config_key(got) == key


def test_unknown_stage_is_a_clear_error_before_any_run(conn, corpus, monkeypatch):
    with pytest.raises(ConfigError, match=r"unknown selection stage 'bogus'; one of diversity, "):
        stages.get("bogus")
    # a strategy whose plan names a stage no object implements is refused while planning
    monkeypatch.setattr(srun, "make_strategy",
                        lambda *a, **k: SingleStage(name="random", stage="bogus"))
    with pytest.raises(ConfigError, match="unknown selection stage 'bogus'"):
        srun.select(SelectParams("bc", "3", "random"), show_progress=False)
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


@pytest.mark.parametrize("name", list(stages.STAGES))
def test_each_stage_picks_exactly_n_new_distinct_unpicked(conn, corpus, name):
    """``pick(ctx, n)``: n distinct pool sentences, none picked before, never outside the pool."""
    p = SelectParams("bc", "5", "allabel", seed=4, oracle=True, k=1, uncertainty_candidates="8",
                     pool_splits=["train"])
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'bc'").fetchone()[0]
    pool = srun.pool_of(conn, ds, p.pool_splits)
    earlier = srun.select(SelectParams("bc", "6", "random", seed=1, oracle=True,
                                       pool_splits=["train"]), show_progress=False)
    picked = [r[0] for r in conn.execute("SELECT sentence_id FROM selections WHERE run_id = %s "
                                         "ORDER BY rank", (earlier.run_id,))]
    # the uncertainty stage answers under a run whose picks are annotated (its demonstrations)
    ctx = stages.StageContext(conn, None, ds, earlier.run_id, pool, p)
    ctx.set_picked(picked)
    assert ctx.picked.sum() == 6 and sorted(np.asarray(pool)[ctx.picked]) == sorted(picked)
    ids, scores = stages.get(name).pick(ctx, 4)
    assert len(ids) == 4 and len(set(ids)) == 4 and len(scores) == 4
    assert set(ids) <= set(pool) and not set(ids) & set(picked)
    assert all(isinstance(i, int) for i in ids)
