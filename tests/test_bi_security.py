"""BI views and the read-only role; hostile inputs stored and read back byte for byte; clear
errors for a wrong DATABASE_URL, an unreachable LLM endpoint, a missing extension; secrets never
in logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from allabel.core.config import get_settings
from allabel.core.errors import DatabaseError, InputError
from allabel.ingest import ingest_path
from allabel.store.migrate import require_extension
from allabel.store.roles import reader_url

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent

HOSTILE_NAME = "ds'; DROP TABLE allabel.sentences; -- \\ 🧪"
HOSTILE_LABEL = "Lab\"el'; --\\x"
HOSTILE_TEXTS = [
    "Robert'); DROP TABLE sentences;-- said \\\\ \"hi\" ; -- not a comment",
    "emoji 🧬🧪 and combining marks: e\u0301 n\u0303 a\u030a \u202eRTL\u202c",
    "tab\tinside and backslash-n \\n literally and 'quotes'",
]


def test_bi_views_and_reader_role(conn, db_url, cli):
    ingest_path(DATA / "small.tsv", "toy", "train")
    code, out, _ = cli("sql", "SELECT dataset, split, start_char, end_char, entity_text, label, source FROM "
                       "bi.entity_mentions ORDER BY start_char", "--csv")
    assert code == 0
    assert out.splitlines()[1:] == ["toy,train,0,7,Aspirin,Chemical,gold",
                                    "toy,train,15,28,Reye syndrome,Disease,gold"]
    url = reader_url(db_url)
    assert url.startswith("postgresql://allabel_reader@")
    with psycopg.connect(url) as r:
        assert r.execute("SELECT count(*) FROM bi.entity_mentions").fetchone()[0] == 2
        assert r.execute("SELECT mentions FROM bi.label_counts WHERE label = 'Disease'").fetchone()[0] == 1
        r.execute("SELECT * FROM bi.selection_summary").fetchall()
        r.execute("SELECT * FROM bi.evaluation_summary").fetchall()
        for forbidden in ("SELECT * FROM allabel.llm_calls", "SELECT * FROM allabel.sentences",
                          "INSERT INTO allabel.datasets (name) VALUES ('x')",
                          "DELETE FROM bi.entity_mentions", "CREATE TABLE bi.x (i int)"):
            with pytest.raises((psycopg.errors.InsufficientPrivilege,
                                psycopg.errors.ObjectNotInPrerequisiteState)):
                r.execute(forbidden)
            r.rollback()


def test_db_url_reader_cli(cli, db_url):
    code, out, _ = cli("db", "url", "--reader")
    assert code == 0 and out.strip() == reader_url(db_url)


def test_hostile_inputs_round_trip_byte_for_byte(conn, cli, tmp_path):
    big = ("lorem ipsum dolor " * 60000)[:1_000_000]  # a 1 MB sentence
    texts = HOSTILE_TEXTS + [big]
    lines = []
    for t in texts:
        lines.append(json.dumps({"text": t, "entities": [{"start": 0, "end": 5, "label": HOSTILE_LABEL}]},
                                ensure_ascii=False))
    f = tmp_path / "hostile.jsonl"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest_path(f, HOSTILE_NAME, "train")
    got = [t for (t,) in conn.execute("SELECT text FROM sentences ORDER BY position")]
    assert got == texts
    assert [len(t.encode()) for t in got] == [len(t.encode()) for t in texts]
    assert conn.execute("SELECT name FROM datasets").fetchone()[0] == HOSTILE_NAME
    assert conn.execute("SELECT DISTINCT label FROM entities").fetchall() == [(HOSTILE_LABEL,)]
    assert conn.execute("SELECT to_regclass('allabel.sentences')").fetchone()[0] is not None
    code, out, _ = cli("datasets", "--json")
    assert HOSTILE_NAME in json.loads(out)
    code, out, _ = cli("search", "--dataset", HOSTILE_NAME, "Robert'); DROP", "--json")
    assert code == 0 and json.loads(out)[0]["text"] == HOSTILE_TEXTS[0]
    code, out, _ = cli("search", "--dataset", HOSTILE_NAME, "lorem ipsum", "--k", "1", "--json")
    assert json.loads(out)[0]["text"] == big


def test_nul_bytes_rejected_clearly(conn, tmp_path):
    f = tmp_path / "nul.jsonl"
    f.write_text('{"text": "ok"}\n{"text": "bad \\u0000 nul"}\n')
    with pytest.raises(InputError, match="nul.jsonl:2: NUL"):
        ingest_path(f, "d", "train")
    assert conn.execute("SELECT count(*) FROM sentences").fetchone()[0] == 0


def test_wrong_database_url_is_a_clear_error(cli, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:s3cret@127.0.0.1:1/nope")
    monkeypatch.setenv("ALLABEL_DB_RETRY_SECONDS", "1")
    get_settings.cache_clear()
    code, _, err = cli("datasets")
    assert code == 4 and "cannot connect to postgresql://nobody:***@127.0.0.1:1/nope" in err
    assert "s3cret" not in err


def test_unreachable_endpoint_is_a_clear_error(cli, monkeypatch):
    ingest_path(DATA / "small.tsv", "toy", "train")
    ingest_path(DATA / "small.txt", "toy", "test")
    for k, v in {"ALLABEL_LLM_BASE_URL": "http://127.0.0.1:9/v1", "ALLABEL_LLM_MODEL": "m",
                 "ALLABEL_LLM_MAX_RETRIES": "1", "ALLABEL_LLM_BACKOFF": "0.01"}.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    code, _, err = cli("predict", "--dataset", "toy", "--split", "test", "--demos", "train")
    assert code == 5 and "connection failed (is the endpoint reachable?)" in err


def test_missing_extension_check(db_url):
    require_extension(db_url, "vector")
    with pytest.raises(DatabaseError, match="no 'surely_not_an_extension' extension"):
        require_extension(db_url, "surely_not_an_extension")


def test_cron_wrapper_logs_without_secrets(db_url, tmp_path):
    env = {**os.environ, "ALLABEL_LOG_DIR": str(tmp_path), "OPENAI_API_KEY": "sk-NEVER-LOG-ME",
           "ALLABEL_BIN": str(Path(sys.executable).parent / "allabel"), "DATABASE_URL": db_url}
    r = subprocess.run([str(REPO / "scripts/cron/allabel-job"), "datasets"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    log = (tmp_path / "allabel-datasets.log").read_text()
    assert "start: allabel datasets" in log and "end: exit 0" in log and "no datasets yet" in log
    r = subprocess.run([str(REPO / "scripts/cron/allabel-job"), "embed", "--dataset", "nope"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 4
    log = (tmp_path / "allabel-embed.log").read_text()
    assert "unknown dataset 'nope'" in log and "end: exit 4" in log
    assert "sk-NEVER-LOG-ME" not in log + (tmp_path / "allabel-datasets.log").read_text()
