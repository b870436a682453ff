"""Ingest: every format, every bad-input case (error names file, line, reason; database
unchanged), idempotent re-ingest, directory ingest, the database-level span guarantee."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from allabel.core.errors import InputError
from allabel.ingest import ingest_path
from tests.conftest import BC5CDR

DATA = Path(__file__).parent / "data"
TABLES = ["datasets", "labels", "source_files", "sentences", "entities", "bm25_lexemes",
          "bm25_corpus"]


def counts(conn) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_conll_tokens_offsets_and_entities(conn):
    r = ingest_path(DATA / "small.tsv", "toy", "train")
    assert (r.sentences, r.entities) == (2, 2)
    text, tokens, starts = conn.execute(
        "SELECT text, tokens, token_starts FROM sentences ORDER BY position LIMIT 1").fetchone()
    assert text == "Aspirin causes Reye syndrome ."
    assert [text[s:s + len(t)] for t, s in zip(tokens, starts, strict=False)] == tokens
    ents = conn.execute("SELECT start_char, end_char, label, text FROM entities "
                        "WHERE source='gold' ORDER BY start_char").fetchall()
    assert ents == [(0, 7, "Chemical", "Aspirin"), (15, 28, "Disease", "Reye syndrome")]


def test_jsonl_nested_unicode_and_labels_file(conn):
    r = ingest_path(DATA / "small.jsonl", "toy", "train", labels_file=DATA / "labels.json")
    assert r.entities == 4
    rows = conn.execute("SELECT e.text, e.label FROM entities e ORDER BY e.id").fetchall()
    assert ("Lithium carbonate", "Chemical") in rows and ("Lithium", "Chemical") in rows
    assert ("Café au lait spots", "Disease") in rows
    desc = dict(conn.execute("SELECT name, description FROM labels").fetchall())
    assert desc["Chemical"] == "drugs and chemical compounds"
    doc = conn.execute("SELECT doc_id FROM sentences WHERE position = 0").fetchone()[0]
    assert doc == "d1"


def test_plain_text_unlabeled(conn):
    r = ingest_path(DATA / "small.txt", "raw", "pool")
    assert (r.sentences, r.entities) == (2, 0)
    texts = [t for (t,) in conn.execute("SELECT text FROM sentences ORDER BY position")]
    assert texts[1] == "Second one ; with -- odd \\ chars ."


def test_reingest_is_noop(conn, cli):
    ingest_path(DATA / "small.tsv", "toy", "train")
    before = counts(conn)
    code, out, _ = cli("ingest", DATA / "small.tsv", "--dataset", "toy", "--split", "train")
    assert code == 0 and "already ingested" in out
    assert counts(conn) == before


def test_directory_ingest_split_from_file_stem(conn, tmp_path):
    (tmp_path / "train.tsv").write_bytes((DATA / "small.tsv").read_bytes())
    (tmp_path / "test.jsonl").write_bytes((DATA / "small.jsonl").read_bytes())
    ingest_path(tmp_path, "mixed")
    splits = dict(conn.execute("SELECT split, count(*) FROM sentences GROUP BY split").fetchall())
    assert splits == {"train": 2, "test": 2}


BAD = {
    "unknown_ext.xyz": ("hello\n", None, "unknown format"),
    "no_tag.tsv": ("Aspirin\tB-Chemical\ncauses\n", 2, "malformed line"),
    "bad_iob.tsv": ("Aspirin\tO\ncauses\tI-Chemical\n", 2, "invalid IOB2"),
    "bad_iob_type.tsv": ("Aspirin\tB-Chemical\ncauses\tI-Disease\n", 2, "invalid IOB2"),
    "bad_tag.tsv": ("Aspirin\tB-\n", 1, "malformed tag"),
    "bad_json.jsonl": ('{"text": "ok", "entities": []}\n{"text": oops}\n', 2, "not valid JSON"),
    "no_text.jsonl": ('{"entities": []}\n', 1, '"text"'),
    "outside.jsonl": ('{"text": "short", "entities": [{"start": 2, "end": 40, "label": "X"}]}\n',
                      1, "outside the text"),
    "mismatch.jsonl": ('{"text": "Aspirin helps", "entities": [{"start": 0, "end": 7, '
                       '"label": "Chemical", "text": "aspirin"}]}\n', 1, "but the entity says"),
    "dup.jsonl": ('{"text": "Aspirin helps", "entities": [{"start": 0, "end": 7, "label": "C"}, '
                  '{"start": 0, "end": 7, "label": "C"}]}\n', 1, "duplicate span"),
    "empty.tsv": ("\n\n", None, "empty file"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_clear_error_and_database_unchanged(conn, tmp_path, name):
    ingest_path(DATA / "small.tsv", "toy", "train")  # something already there
    before = counts(conn)
    content, line, reason = BAD[name]
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as e:
        ingest_path(p, "toy", "train")
    assert str(p) in str(e.value) and reason in str(e.value)
    assert e.value.line == line
    assert counts(conn) == before


def test_invalid_utf8_and_nul_report_line(conn, tmp_path):
    before = counts(conn)
    p = tmp_path / "bad.txt"
    p.write_bytes(b"fine line\nsecond \xff\xfe line\n")
    with pytest.raises(InputError, match="invalid UTF-8") as e:
        ingest_path(p, "toy", "pool")
    assert e.value.line == 2
    p.write_bytes(b"ok\nnul \x00 here\n")
    with pytest.raises(InputError, match="NUL") as e:
        ingest_path(p, "toy", "pool")
    assert e.value.line == 2
    assert counts(conn) == before


def test_bad_file_in_a_folder_rolls_back_every_file(conn, tmp_path):
    (tmp_path / "a.tsv").write_bytes((DATA / "small.tsv").read_bytes())
    (tmp_path / "b.tsv").write_text("x\tI-Foo\n")
    with pytest.raises(InputError, match="b.tsv:1"):
        ingest_path(tmp_path, "toy")
    assert counts(conn)["sentences"] == 0 and counts(conn)["datasets"] == 0


def test_label_missing_from_labels_file(conn, tmp_path):
    lab = tmp_path / "labels.tsv"
    lab.write_text("Chemical\tdrugs\n")
    with pytest.raises(InputError, match="'Disease' is not in the labels file"):
        ingest_path(DATA / "small.tsv", "toy", "train", labels_file=lab)
    assert counts(conn)["sentences"] == 0


def test_cli_reports_error_with_exit_code(cli, tmp_path):
    p = tmp_path / "x.tsv"
    p.write_text("a\tI-X\n")
    code, _, err = cli("ingest", p, "--dataset", "d", "--split", "train")
    assert code == 2 and f"{p}:1" in err and "invalid IOB2" in err


def test_database_enforces_span_text(conn):
    ingest_path(DATA / "small.tsv", "toy", "train")
    sid = conn.execute("SELECT id FROM sentences ORDER BY position LIMIT 1").fetchone()[0]
    with pytest.raises(psycopg.errors.CheckViolation, match="does not match"):
        conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source)"
                     " VALUES (%s, 0, 7, 'Disease', 'Aspirix', 'gold')", (sid,))
    conn.rollback()
    with pytest.raises(psycopg.errors.CheckViolation, match="outside"):
        conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source)"
                     " VALUES (%s, 0, 700, 'Disease', 'Aspirin', 'gold')", (sid,))
    conn.rollback()
    with pytest.raises(psycopg.errors.CheckViolation, match="not a label"):
        conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source)"
                     " VALUES (%s, 0, 7, 'Gene', 'Aspirin', 'gold')", (sid,))


def test_datasets_inventory_json(cli):
    ingest_path(DATA / "small.tsv", "toy", "train")
    code, out, _ = cli("datasets", "--json")
    assert code == 0
    d = json.loads(out)["toy"]["splits"]["train"]
    assert d == {"sentences": 2, "tokens": 8, "embedded": 0,
                 "entities": {"Chemical": 1, "Disease": 1}}


def test_real_bc5cdr_test_split(conn):
    r = ingest_path(BC5CDR / "test.tsv", "bc5cdr", "test")
    assert r.sentences == 4797  # blank-line separated blocks in the file
    assert r.entities == 9809   # = number of B- tags
    bad = conn.execute("SELECT count(*) FROM entities e JOIN sentences s ON s.id = e.sentence_id "
                       "WHERE substr(s.text, e.start_char + 1, e.end_char - e.start_char) <> e.text"
                       ).fetchone()[0]
    assert bad == 0
