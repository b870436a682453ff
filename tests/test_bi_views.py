"""BI surface v2 (migration 0011): ids and sentence text in the views, column names that need no
quoting, the latest LLM run per dataset and split, a comment on every column, bi.bm25() for the
reader role, and the documented DuckDB (ADBC -> Arrow) snippet run as written in the docs."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from allabel.ingest import ingest_path
from allabel.store.roles import reader_url

DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def bi_columns(conn):
    return conn.execute(
        "SELECT c.table_name, c.column_name, col_description(format('bi.%I', c.table_name)::regclass, "
        "c.ordinal_position) FROM information_schema.columns c WHERE c.table_schema = 'bi' "
        "ORDER BY 1, c.ordinal_position").fetchall()


def test_every_bi_column_has_a_comment_and_a_plain_name(conn):
    cols = bi_columns(conn)
    views = {t for t, _, _ in cols}
    assert {"entity_mentions", "sentences", "prediction_runs", "latest_llm_mentions", "label_counts",
            "selection_summary", "evaluation_summary"} <= views
    assert [(t, c) for t, c, d in cols if not d] == []
    reserved = {w for (w,) in conn.execute("SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T')")}
    assert [(t, c) for t, c, _ in cols if c in reserved] == []
    for v in views:
        assert conn.execute("SELECT obj_description(%s::regclass)", (f"bi.{v}",)).fetchone()[0]


def test_entity_mentions_have_ids_and_sentence_text(conn):
    ingest_path(DATA / "small.tsv", "toy", "train")
    rows = conn.execute("SELECT entity_id, sentence_id, sentence_text, start_char, end_char, entity_text "
                        "FROM bi.entity_mentions WHERE end_char > 5 ORDER BY start_char").fetchall()
    assert [r[5] for r in rows] == ["Aspirin", "Reye syndrome"]
    for eid, sid, stext, a, b, etext in rows:
        assert stext[a:b] == etext
        assert conn.execute("SELECT sentence_id FROM entities WHERE id = %s", (eid,)).fetchone()[0] == sid
    s = conn.execute("SELECT sentence_text, gold_mentions, annotated FROM bi.sentences ORDER BY sentence_position"
                     ).fetchall()
    assert s[0] == ("Aspirin causes Reye syndrome .", 2, False) and s[1][1] == 0


def _prediction(conn, ds_id, split, model, finished, mention):
    rid = conn.execute("INSERT INTO runs (kind, dataset_id, params, status, finished_at) VALUES ('prediction', %s, "
                       "jsonb_build_object('split', %s::text, 'model', %s::text, 'k', 4), 'done', %s) RETURNING id",
                       (ds_id, split, model, finished)).fetchone()[0]
    sid, text = conn.execute("SELECT id, text FROM sentences WHERE dataset_id = %s AND split = %s ORDER BY position "
                             "LIMIT 1", (ds_id, split)).fetchone()
    conn.execute("INSERT INTO predictions (run_id, sentence_id, status) VALUES (%s, %s, 'done')", (rid, sid))
    a = text.index(mention)
    conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id, model) "
                 "VALUES (%s, %s, %s, 'Chemical', %s, 'llm', %s, %s)", (sid, a, a + len(mention), mention, rid, model))
    return rid


def test_latest_llm_run_per_dataset_and_split(conn):
    ingest_path(DATA / "small.tsv", "toy", "train")
    ingest_path(DATA / "small.tsv", "toy", "test")
    ds = conn.execute("SELECT id FROM datasets").fetchone()[0]
    old = _prediction(conn, ds, "train", "m-old", "2026-01-01", "Aspirin")
    new = _prediction(conn, ds, "train", "m-new", "2026-02-01", "causes")
    other = _prediction(conn, ds, "test", "m-old", "2025-01-01", "Reye")
    conn.commit()
    latest = conn.execute("SELECT run, split, is_latest, sentences_predicted, mentions FROM bi.prediction_runs "
                          "ORDER BY run").fetchall()
    assert latest == [(old, "train", False, 1, 1), (new, "train", True, 1, 1), (other, "test", True, 1, 1)]
    got = conn.execute("SELECT run, split, entity_text, model FROM bi.latest_llm_mentions ORDER BY run").fetchall()
    assert got == [(new, "train", "causes", "m-new"), (other, "test", "Reye", "m-old")]


def test_reader_can_search_bm25_and_read_new_views(conn, db_url):
    ingest_path(DATA / "small.tsv", "toy", "train")
    with psycopg.connect(reader_url(db_url)) as r:
        hits = r.execute("SELECT sentence_id, score, split, sentence_text FROM bi.bm25('toy', 'aspirin', 3)"
                         ).fetchall()
        assert len(hits) == 1 and hits[0][3].startswith("Aspirin") and hits[0][1] > 0
        for v in ("sentences", "prediction_runs", "latest_llm_mentions", "entity_mentions"):
            r.execute(f"SELECT * FROM bi.{v}").fetchall()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            r.execute("SELECT * FROM allabel.bm25('toy', 'aspirin', 3)")


def _doc_snippet(name: str) -> str:
    text = (DOCS / "operations.md").read_text()
    m = re.search(rf"<!-- snippet: {name} -->\s*```python\n(.*?)```", text, re.S)
    assert m, f"snippet {name} not found in docs/operations.md"
    return m.group(1)


def test_duckdb_adbc_snippet_from_docs_runs(conn, db_url, capsys):
    ingest_path(DATA / "small.tsv", "toy", "train")
    code = _doc_snippet("duckdb-adbc")
    code, n = re.subn(r'^url = ".*"', f"url = {reader_url(db_url)!r}", code, flags=re.M)
    assert n == 1
    ns: dict = {}
    exec(compile(code, "docs/operations.md", "exec"), ns)
    out = capsys.readouterr().out
    assert "Chemical" in out and "Disease" in out
    assert ns["mentions"].num_rows == 2
