#!/usr/bin/env python
"""LLM benchmark (issue 3): local tokens/s and s/sentence (bc5cdr test, k = 4); openai-backend
throughput at concurrency 1, 4, 16 against a local server with a fixed delay; a fully cached
re-run; prompt tokens per prediction at k = 1, 4, 7.

    .venv/bin/python scripts/bench_llm.py [--local-n 8] [--delay 0.2] [--requests 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.benchlib import DATA, scratch_database  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--local-n", type=int, default=8)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--requests", type=int, default=64)
    args = ap.parse_args()
    from allabel import db
    from allabel.config import get_settings
    from allabel.ingest import ingest_path
    from allabel.predict import predict_split

    with scratch_database():
        ingest_path(DATA / "bc5cdr", "bc5cdr")
        # ---- local backend -------------------------------------------------------------
        os.environ["ALLABEL_LLM_MAX_TOKENS"] = "64"
        get_settings.cache_clear()
        from allabel.llm.local import LocalBackend, _load

        b = LocalBackend()
        t = time.perf_counter()
        _load(str(b._path))
        print(f"local model load: {time.perf_counter() - t:.1f} s")
        st = predict_split("bc5cdr", "test", "train", k=4, limit=args.local_n, show_progress=False)
        with db.connection() as conn:
            toks, ms = conn.execute("SELECT sum(completion_tokens), sum(latency_ms) FROM llm_calls").fetchone()
            ptoks = conn.execute("SELECT avg(prompt_tokens) FROM llm_calls").fetchone()[0]
        print(f"local (SmolLM2-135M, 1 thread, k=4): {st.processed} sentences, {st.seconds / st.processed:.2f} "
              f"s/sentence end to end, {toks / (ms / 1000):.1f} generated tokens/s, "
              f"{float(ptoks):.0f} prompt tokens/prediction")
        # ---- cached re-run -------------------------------------------------------------
        with db.connection() as conn:
            conn.execute("DELETE FROM predictions")
            conn.commit()
        t = time.perf_counter()
        st2 = predict_split("bc5cdr", "test", "train", k=4, limit=args.local_n, show_progress=False)
        print(f"fully cached re-run: {st2.processed} sentences in {time.perf_counter() - t:.2f} s, "
              f"{st2.calls} LLM calls, {st2.cache_hits} cache hits")
        # ---- prompt tokens at k = 1, 4, 7 ------------------------------------------------
        from allabel.predict import DemoPool
        from allabel.prompt import build_messages

        model, tok = _load(str(b._path))
        with db.connection() as conn:
            ds = db.dataset_id(conn, "bc5cdr")
            pool = DemoPool.from_split(conn, ds, "train")
            labels = dict(conn.execute("SELECT name, description FROM labels WHERE dataset_id=%s", (ds,)))
            sents = conn.execute("SELECT id, text FROM sentences WHERE dataset_id=%s AND split='test' "
                                 "ORDER BY id LIMIT 30", (ds,)).fetchall()
            for k in (1, 4, 7):
                n = []
                for sid, text in sents:
                    demos = [pool.demos[i] for i in pool.retrieve(conn, text, k, sid)]
                    msgs = build_messages(labels, demos, text)
                    enc = tok.apply_chat_template(msgs, add_generation_prompt=True)
                    n.append(len(enc["input_ids"] if hasattr(enc, "keys") else enc))
                print(f"prompt tokens per prediction at k={k}: mean {sum(n) / len(n):.0f} "
                      f"(min {min(n)}, max {max(n)}; 30 test sentences)")

        # ---- openai backend against a local server with a fixed delay ---------------------
        from tests.fake_openai import FakeOpenAI

        with FakeOpenAI(delay=args.delay) as srv:
            base = None
            for conc in (1, 4, 16):
                os.environ.update({"ALLABEL_LLM_BASE_URL": srv.url, "ALLABEL_LLM_MODEL": f"fake-{conc}",
                                   "ALLABEL_LLM_CONCURRENCY": str(conc)})
                get_settings.cache_clear()
                n = args.requests if conc > 1 else max(8, args.requests // 4)
                st = predict_split("bc5cdr", "devel", "train", k=4, limit=n, show_progress=False)
                rps = st.calls / st.seconds
                base = base or rps
                print(f"openai backend, server delay {args.delay:.2f} s, concurrency {conc:>2}: "
                      f"{rps:6.1f} requests/s, speed-up {rps / base:5.2f}x (target >= {0.8 * conc:.1f}x)")


if __name__ == "__main__":
    main()
