#!/usr/bin/env python
"""Measures a design that allabel does NOT use (issue 15, docs/benchmarks.md "Ingest, fourth
pass"): the lexemes of each chunk of sentences computed by a second connection while the
ingest's own backend writes the previous chunk, and sent with the COPY, so that two backends
share the work of one ingest transaction. It needs `sentences.tsv` as an ordinary column (it is
`GENERATED ALWAYS`, which a COPY cannot supply), so the scratch database is altered here: the
column loses its expression and a BEFORE INSERT trigger fills it for other writers.

Prints, per pass over all of data/, the wall time, the CPU of the client and of all server
processes, the CPU of the ingest's own (writing) backend and the bound on two idle cores,
max(writing backend, everything else). ``--mode base`` runs the same harness with the product's
own COPY (the comparison).

    .venv/bin/python scripts/bench_ingest_helper.py [--mode helper|base] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.bench_ingest import server_cpu  # noqa: E402
from scripts.benchlib import DATA, scratch_database  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
AHEAD = 2  # chunks whose lexemes the helper computes while the writer sends earlier ones

ALTER = """
ALTER TABLE sentences ALTER COLUMN tsv DROP EXPRESSION;
CREATE FUNCTION sentences_tsv() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.tsv := bm25_lexemes(NEW.text); RETURN NEW; END $$;
CREATE TRIGGER sentences_tsv BEFORE INSERT ON sentences FOR EACH ROW EXECUTE FUNCTION sentences_tsv();
"""
LEXEMES = "SELECT allabel.bm25_lexemes(t)::text FROM unnest(%s::text[]) t"
COPY = ("COPY sentences (dataset_id, split, doc_id, position, source_file_id, text, tokens, "
        "token_starts, tsv) FROM STDIN")


def backend_cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def helper_copy_sentences(url: str):
    """writer.copy_sentences with a tsv column, filled by a helper connection AHEAD chunks ahead."""
    from allabel.ingest import writer
    from allabel.store import db

    def copy_sentences(conn, dataset_id, split, path, sha, fmt, chunks: Iterable, checks_off=False):
        assert checks_off, "the BEFORE INSERT trigger would recompute tsv: run as a superuser"
        file_id = db.scalar(conn, writer.Q.insert_source_file, {
            "dataset_id": dataset_id, "split": split, "path": path, "sha256": sha, "format": fmt,
            "n_sentences": 0, "n_entities": 0})
        first = db.scalar(conn, writer.Q.next_position, {"dataset_id": dataset_id, "split": split})
        sentences: list = []
        with psycopg.connect(url, autocommit=True) as helper, ThreadPoolExecutor(1) as ex:
            def lexemes(chunk: list) -> list[str]:
                return [r[0] for r in helper.execute(LEXEMES, ([s.text for s in chunk],)).fetchall()]

            def ahead() -> Iterator[tuple[list, list[str]]]:
                pending: deque[tuple[list, Future]] = deque()
                for chunk in chunks:
                    pending.append((chunk, ex.submit(lexemes, chunk)))
                    if len(pending) > AHEAD:
                        c, f = pending.popleft()
                        yield c, f.result()
                while pending:
                    c, f = pending.popleft()
                    yield c, f.result()

            with conn.cursor() as cur, writer.row_checks_off(conn, checks_off), cur.copy(COPY) as copy:
                prefix = f"{dataset_id}\t{writer._field(split)}\t"
                for chunk, tsvs in ahead():
                    c = first + len(sentences)
                    copy.write("".join(
                        f"{prefix}{writer._field(s.doc_id)}\t{c + i}\t{file_id}\t{writer._field(s.text)}\t"
                        f"{writer._text_array(s.tokens)}\t{writer._int_array(s.token_starts)}\t"
                        f"{writer._field(t)}\n" for i, (s, t) in enumerate(zip(chunk, tsvs, strict=True))))
                    sentences.extend(chunk)
        return writer.SentencesWritten(file_id, first, sentences)

    return copy_sentences


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["helper", "base"], default="helper")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from allabel.core.config import apply_thread_limits

    apply_thread_limits()
    with scratch_database() as url:
        import allabel.ingest as ing
        from allabel.store import db

        with db.connect(url) as conn:
            pm = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0]).parent()
            if args.mode == "helper":
                conn.execute(ALTER)
                conn.commit()
        if args.mode == "helper":
            ing.copy_sentences = helper_copy_sentences(url)
        writer_cpu = [0.0]
        opened = ing.db.connection

        @contextlib.contextmanager
        def connection(u=None, **kw):
            with opened(u, **kw) as c:
                pid, c0 = c.info.backend_pid, backend_cpu(c.info.backend_pid)
                try:
                    yield c
                finally:
                    writer_cpu[0] += backend_cpu(pid) - c0

        ing.db.connection = connection
        corpora = sorted(p for p in DATA.iterdir() if p.is_dir())
        for r in range(args.repeat):
            writer_cpu[0] = 0.0
            c0, s0, t0 = time.process_time(), server_cpu(pm), time.perf_counter()
            n = sum(ing.ingest_path(c, f"{c.name}-{r}", url=url).sentences for c in corpora)
            wall, client, server = time.perf_counter() - t0, time.process_time() - c0, server_cpu(pm) - s0
            rest = client + server - writer_cpu[0]
            print(f"{args.mode} #{r + 1}: {n:,} sentences in {wall:.2f} s wall = {n / wall:,.0f}/s | CPU client "
                  f"{client:.2f} s + server {server:.2f} s (writing backend {writer_cpu[0]:.2f} s) = "
                  f"{n / (client + server):,.0f} sentences per CPU second | two idle cores: max(writing "
                  f"backend, the rest {rest:.2f} s) -> at most {n / max(writer_cpu[0], rest):,.0f}/s | load "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
        with db.connect(url) as conn:
            bad = conn.execute("SELECT count(*) FROM sentences WHERE tsv IS DISTINCT FROM bm25_lexemes(text)"
                               ).fetchone()[0]
        print(f"sentences whose tsv differs from bm25_lexemes(text): {bad}")


if __name__ == "__main__":
    main()
