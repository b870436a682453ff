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


@pytest.mark.parametrize("fmt", ["tsv", "json"])
def test_a_too_long_label_name_in_labels_file_is_exit_2_naming_the_file(cli, conn, tmp_path, fmt):
    """A 10,000-character label in --labels: exit 2 naming the labels file and the reason,
    checked before anything is written (not exit 4 with a raw check-constraint message)."""
    ingest_path(DATA / "small.tsv", "toy", "train")
    before = counts(conn)
    long = "L" * 10_000
    lab = tmp_path / f"labels.{fmt}"
    lab.write_text(f"Chemical\tdrugs\n{long}\tx\n" if fmt == "tsv"
                   else json.dumps({"Chemical": "drugs", long: "x"}))
    (tmp_path / "t.txt").write_text("Aspirin helps .\n")
    code, out, err = cli("ingest", tmp_path / "t.txt", "--dataset", "toy", "--split", "pool",
                         "--labels", lab)
    line = 2 if fmt == "tsv" else 1
    assert code == 2 and err.startswith(f"error: {lab}:{line}: label name 'LLLL"), err
    assert "10,000 characters, at most 200 allowed" in err and len(err.strip().splitlines()) == 1
    assert counts(conn) == before


def test_size_limits_of_a_sentence_and_a_token_at_ingest(cli, conn, tmp_path):
    """A sentence over a million characters, or a 5 MB single token, is exit 2 naming file,
    line and limit; the database is unchanged. At the limits it ingests."""
    from allabel.core.limits import MAX_SENTENCE, MAX_TOKEN

    ingest_path(DATA / "small.tsv", "toy", "train")
    before = counts(conn)
    cases = {"five_mb.txt": ("ok .\n" + "x" * 5_000_000 + "\n", 2,
                             "sentence of 5,000,000 characters, at most 1,000,000 allowed"),
             "sentence.txt": ("ok .\n" + "ab " * (MAX_SENTENCE // 3 + 1) + "\n", 2,
                              "sentence of 1,000,001 characters, at most 1,000,000 allowed"),
             "token.txt": ("ok .\n" + "x" * 500_000 + "\n", 2,
                           "a token of 500,000 characters, at most 2,000 allowed"),
             "token.tsv": ("Aspirin\tO\n" + "y" * (MAX_TOKEN + 1) + "\tO\n", 1,
                           "a token of 2,001 characters, at most 2,000 allowed")}
    for name, (content, line, reason) in cases.items():
        p = tmp_path / name
        p.write_text(content)
        code, _, err = cli("ingest", p, "--dataset", "toy", "--split", "big")
        assert code == 2 and err.strip() == f"error: {p}:{line}: {reason}", err[:300]
        assert counts(conn) == before
    ok = tmp_path / "at_limit.txt"
    ok.write_text("z" * MAX_TOKEN + " ok .\n")
    assert cli("ingest", ok, "--dataset", "toy", "--split", "big")[0] == 0


def test_usage_errors_of_ingest_exit_3(cli, conn, tmp_path):
    """A blank --dataset is a usage error (exit 3), not bad input (2); nothing is written. (A
    lone file without --split is no error: it goes to split ``pool``, tests/test_first_month.py.)"""
    (tmp_path / "t.txt").write_text("Aspirin helps .\n")
    for blank in ("", "   "):
        code, _, err = cli("ingest", tmp_path / "t.txt", "--dataset", blank, "--split", "x")
        assert code == 3 and "--dataset: must not be empty" in err, err
    assert counts(conn)["datasets"] == 0
