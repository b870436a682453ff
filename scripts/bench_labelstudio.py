#!/usr/bin/env python
"""Label Studio benchmark (issue 13): what the real server adds to the test session (start-up of
a fresh server from .venv-labelstudio) and what push / pull cost for N sentences, first time and
repeated (idempotent: nothing added, nothing written).

    .venv/bin/python scripts/bench_labelstudio.py [--n 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.benchlib import DATA, scratch_database  # noqa: E402


def timed(label: str, fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    print(f"{label:<44} {time.perf_counter() - t0:7.2f} s   {out}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200, help="sentences selected and pushed")
    ap.add_argument("--fresh", action="store_true", help="start from an empty data dir (migrations)")
    args = ap.parse_args()
    from label_studio_sdk import LabelStudio

    from allabel.annotate.labelstudio import pull, push
    from allabel.core.config import get_settings
    from allabel.ingest import ingest_path
    from allabel.select.run import SelectParams, select
    from tests.labelstudio_server import TEMPLATE, running_labelstudio

    with tempfile.TemporaryDirectory(prefix="allabel-ls-bench-", dir="/tmp") as tmp, \
            running_labelstudio(Path(tmp) / "ls", use_template=not args.fresh) as srv, scratch_database():
        how = "migrated template" if TEMPLATE.is_dir() and not args.fresh else "fresh data dir, migrations"
        print(f"{'Label Studio start-up (' + how + ')':<44} {srv.startup_seconds:7.2f} s", flush=True)
        os.environ.update({"ALLABEL_LABELSTUDIO_URL": srv.url, "ALLABEL_LABELSTUDIO_API_KEY": srv.token})
        get_settings.cache_clear()
        ingest_path(DATA / "bc5cdr" / "train.tsv", "bc", "train")
        run = select(SelectParams("bc", str(args.n), "random", seed=0), show_progress=False).run_id
        r = timed(f"push {args.n} sentences (new project)", push, run)
        timed("push again (nothing to add)", push, run)
        ls = LabelStudio(base_url=srv.url, api_key=srv.token)
        tasks = list(ls.tasks.list(project=r.project_id, fields="all", page_size=1000))
        t0 = time.perf_counter()
        for t in tasks:  # a person's work, through the API: the first token as Chemical
            w = t.data["text"].split()[0]
            ls.annotations.create(id=t.id, result=[{"from_name": "label", "to_name": "text", "type": "labels",
                                                    "value": {"start": 0, "end": len(w), "text": w,
                                                              "labels": ["Chemical"]}}])
        print(f"{'(annotate ' + str(len(tasks)) + ' tasks via the API)':<44} {time.perf_counter() - t0:7.2f} s")
        res = timed(f"pull {len(tasks)} annotations", pull, run)
        res = timed("pull again (nothing changed)", pull, run)
        assert res.written == 0


if __name__ == "__main__":
    main()
