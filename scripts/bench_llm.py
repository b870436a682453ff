#!/usr/bin/env python
"""LLM benchmark: the local backend (CTranslate2) beside the transformers path it replaced, on the
same bc5cdr test sentences (k = 4): s/sentence and strict F1 per answer format and batching; a
fully cached re-run; prompt tokens per prediction at k = 1, 4, 7; openai-backend throughput at
concurrency 1, 4, 16 against a server with a fixed delay in its own process.

    .venv/bin/python scripts/bench_llm.py [--local-n 200] [--reference-n 200] [--delay 0.2] [--requests 64]
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
    ap.add_argument("--local-n", type=int, default=200, help="test sentences for the local backends")
    ap.add_argument("--reference-n", type=int, default=200,
                    help="of them, through the transformers reference (0: skip it)")
    ap.add_argument("--split", default="test", help="sentences to label (devel: to choose settings)")
    ap.add_argument("--variants", default="json/int8/1/0,json/int8/8/16,lines/int8/1/0,lines/int8/8/16",
                    help="local variants: format/compute type/batch size/spread[/stored weights], comma-separated")
    ap.add_argument("--skip-openai", action="store_true")
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--only-endpoint", action="store_true",
                    help="Only the endpoint concurrency section (no local model).")
    args = ap.parse_args()
    from allabel.ingest import ingest_path

    with scratch_database():
        ingest_path(DATA / "bc5cdr", "bc5cdr")
        if args.only_endpoint:
            bench_endpoint_concurrency(args)
            return
        bench_local(args)
        bench_cache_and_prompt_tokens()
        if not args.skip_openai:
            bench_endpoint_concurrency(args)


def bench_cache_and_prompt_tokens() -> None:
    from allabel.core.config import get_settings
    from allabel.llm.local import LocalBackend
    from allabel.predict import DemoPool, predict_split
    from allabel.predict.prompt import build_messages
    from allabel.store import db

    os.environ["ALLABEL_LLM_MAX_TOKENS"] = "64"
    get_settings.cache_clear()
    predict_split("bc5cdr", "test", "train", k=4, limit=8, show_progress=False)
    with db.connection() as conn:
        conn.execute("DELETE FROM predictions")
        conn.commit()
    t = time.perf_counter()
    st2 = predict_split("bc5cdr", "test", "train", k=4, limit=8, show_progress=False)
    print(f"fully cached re-run: {st2.processed} sentences in {time.perf_counter() - t:.2f} s, "
          f"{st2.calls} LLM calls, {st2.cache_hits} cache hits")
    be = LocalBackend()
    _, tok = be._loaded()
    with db.connection() as conn:
        ds = db.dataset_id(conn, "bc5cdr")
        pool = DemoPool.from_split(conn, ds, "train")
        labels = dict(conn.execute("SELECT name, description FROM labels WHERE dataset_id=%s", (ds,)))
        sents = conn.execute("SELECT id, text FROM sentences WHERE dataset_id=%s AND split='test' "
                             "ORDER BY id LIMIT 30", (ds,)).fetchall()
        for fmt in ("json", "lines"):
            for k in (1, 4, 7):
                n = []
                for sid, text in sents:
                    demos = [pool.demos[i] for i in pool.retrieve(conn, text, k, sid)]
                    p = be._tokens(tok, build_messages(labels, demos, text, fmt))
                    n.append(len(p.static) + len(p.rest))
                print(f"prompt tokens per prediction, {fmt:<5} k={k}: mean {sum(n) / len(n):.0f} "
                      f"(min {min(n)}, max {max(n)}; 30 test sentences)")


def bench_local(args: argparse.Namespace) -> None:
    """The local backend against the transformers path it replaced, on the same prompts.

    Same bc5cdr test sentences, k = 4 BM25 demonstrations from train, greedy decoding; strict
    micro-F1 of each against gold from the same parser. The transformers reference (fp32, one
    prompt at a time) lives only here, as the figure to beat."""
    from allabel.core.config import get_settings
    from allabel.llm.local import LocalBackend, bundled_gguf, cache_dir
    from allabel.predict import DemoPool
    from allabel.predict.parse import parse_answer
    from allabel.predict.prompt import build_messages
    from allabel.store import db

    n, max_tokens = args.local_n, 64
    with db.connection() as conn:
        ds = db.dataset_id(conn, "bc5cdr")
        pool = DemoPool.from_split(conn, ds, "train")
        labels = dict(conn.execute("SELECT name, description FROM labels WHERE dataset_id=%s ORDER BY name",
                                   (ds,)).fetchall())
        rows = conn.execute("SELECT id, text FROM sentences WHERE dataset_id=%s AND split=%s "
                            "ORDER BY md5(id::text) LIMIT %s", (ds, args.split, n)).fetchall()
        gold_rows = conn.execute("SELECT sentence_id, start_char, end_char, label FROM entities "
                                 "WHERE source='gold' AND sentence_id = ANY(%s)", ([r[0] for r in rows],))
        gold = {tuple(g) for g in gold_rows}
        demo_ids = pool.retrieve_many(conn, [(t, sid) for sid, t in rows], 4)

    def prompts(fmt: str) -> list[list[dict]]:
        return [build_messages(labels, [pool.demos[d] for d in ds_], text, fmt)
                for (_, text), ds_ in zip(rows, demo_ids, strict=True)]

    def f1(answers: list[str], fmt: str) -> float:
        """Strict micro F1 on the first len(answers) sentences (the reference may answer fewer)."""
        scored = rows[: len(answers)]
        ids = {sid for sid, _ in scored}
        pred = {(sid, e.start, e.end, e.label) for (sid, text), a in zip(scored, answers, strict=True)
                for e in parse_answer(a, text, list(labels), fmt=fmt).entities}
        want = {g for g in gold if g[0] in ids}
        tp = len(pred & want)
        return 2 * tp / (len(pred) + len(want)) if pred or want else 1.0

    def line(name: str, seconds: float, answers: list[str], fmt: str, ref: float | None) -> float:
        rate = len(answers) / seconds
        vs = f", {rate / ref:5.1f}x the reference" if ref else ""
        k = args.reference_n
        same = (f" (F1 {f1(answers[:k], fmt):.3f} on the reference's {k})"
                if ref and 0 < k < len(answers) else "")
        print(f"  {name:<44} {seconds / len(answers):6.3f} s/sentence  {rate:6.2f} sentences/s{vs}  "
              f"F1 {f1(answers, fmt):.3f}{same}", flush=True)
        return rate

    print(f"local backends, bc5cdr {args.split}, {n} sentences, k=4, max {max_tokens} answer tokens, "
          f"{get_settings().threads} thread(s):")
    ref_rate = None
    if args.reference_n:
        ref = TransformersReference(bundled_gguf(), cache_dir())
        msgs = prompts("json")[: args.reference_n]
        t = time.perf_counter()
        answers = [ref.complete(m, max_tokens) for m in msgs]
        ref_rate = line(f"transformers fp32, one at a time, json ({len(msgs)})", time.perf_counter() - t,
                        answers, "json", None)
    for spec in args.variants.split(","):
        fmt, compute, size, spread, *quant = spec.split("/")
        os.environ.update({"ALLABEL_LLM_BATCH_SIZE": size, "ALLABEL_LLM_BATCH_SPREAD": spread,
                           "ALLABEL_LLM_COMPUTE_TYPE": compute,
                           "ALLABEL_LLM_QUANTIZATION": quant[0] if quant else "int8"})
        get_settings.cache_clear()
        be = LocalBackend()
        be._loaded()
        msgs = prompts(fmt)
        t = time.perf_counter()
        comps = []
        for i in range(0, len(msgs), 32):  # claims of 32, as predict does for the local model
            comps += be.complete_batch(msgs[i:i + 32], max_tokens, 0.0)
        stored = quant[0] if quant else "int8"
        line(f"ct2 {stored} weights, {compute}, batch {size}/{spread}, {fmt}", time.perf_counter() - t,
             [c.text for c in comps], fmt, ref_rate)
    for var in ("BATCH_SIZE", "BATCH_SPREAD", "COMPUTE_TYPE", "QUANTIZATION"):
        os.environ.pop(f"ALLABEL_LLM_{var}")
    get_settings.cache_clear()


class TransformersReference:
    """The previous local path (transformers ``generate``, fp32, greedy), kept as the reference."""

    def __init__(self, gguf: Path, cache: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

        folder = cache / f"{gguf.stem}-transformers-reference"
        if not (folder / "config.json").exists():
            model = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(gguf_file=gguf.name, dequantize=True))
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            tmp = folder.with_name(folder.name + ".tmp")
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            tmp.rename(folder)
        torch.set_num_threads(1)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        self.tok = AutoTokenizer.from_pretrained(folder)

    def complete(self, messages: list[dict], max_tokens: int) -> str:
        import torch

        enc = self.tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        ids = enc if isinstance(enc, torch.Tensor) else enc["input_ids"]
        with torch.inference_mode():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens,
                                      do_sample=False, pad_token_id=self.tok.eos_token_id)
        gen = out[0, ids.shape[1]:].tolist()
        if self.tok.eos_token_id in gen:
            gen = gen[: gen.index(self.tok.eos_token_id)]
        return self.tok.decode(gen)


def bench_endpoint_concurrency(args) -> None:
    """openai backend: throughput at concurrency 1, 4, 16 against a fake server with a fixed
    delay that runs in its own process (so its threads do not share our GIL), predicting devel
    sentences of bc5cdr (already ingested) through the whole pipeline: retrieval, cache, parse,
    Postgres writes. The demonstration pool's BM25 index is built once before timing (a
    one-time cost that would otherwise flatter the speed-up). Target: concurrency c reaches
    >= 0.8 x c of one request in flight."""
    from allabel.core.config import get_settings
    from allabel.llm import get_backend
    from allabel.predict import DemoPool, enqueue, prediction_run, process
    from allabel.store import db
    from tests.fake_openai import FakeOpenAIProcess

    with db.connection() as conn:
        ds = db.dataset_id(conn, "bc5cdr")
        pool = DemoPool.from_split(conn, ds, "train")
        ids = [r[0] for r in conn.execute("SELECT id FROM sentences WHERE dataset_id=%s AND "
                                          "split='devel' ORDER BY id", (ds,))]
        pool.retrieve(conn, "warm up the pool index", 4, -1)
    with FakeOpenAIProcess(delay=args.delay) as srv:
        base = None
        for conc in (1, 4, 16):
            os.environ.update({"ALLABEL_LLM_BASE_URL": srv.url, "ALLABEL_LLM_MODEL": f"fake-{conc}",
                               "ALLABEL_LLM_CONCURRENCY": str(conc)})
            get_settings.cache_clear()
            n = args.requests if conc > 1 else max(8, args.requests // 4)
            with db.connection() as conn:
                run_id = prediction_run(conn, ds, "devel", pool, 4, get_backend())
                enqueue(conn, run_id, ids[:n])
            st = process(run_id, pool, 4, show_progress=False)
            rps = st.calls / st.seconds
            base = base or rps
            print(f"openai backend, server in its own process, delay {args.delay:.2f} s, "
                  f"concurrency {conc:>2}: {st.calls} calls, {rps:6.1f} requests/s, speed-up "
                  f"{rps / base:5.2f}x (target >= {0.8 * conc:.1f}x)")

if __name__ == "__main__":
    main()
