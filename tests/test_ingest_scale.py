"""Ingest at scale: the hand-written COPY encoding round-trips awkward text, and a bad sentence
deep inside a large ingest leaves the database exactly as it was."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from allabel.core.errors import InputError
from allabel.ingest import ingest_path

COUNT_TABLES = ["datasets", "labels", "source_files", "sentences", "entities", "bm25_lexemes",
                "bm25_corpus", "bm25_postings"]


def counts(conn) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNT_TABLES}


def test_awkward_text_round_trips(conn, tmp_path):
    tokens = ['say', '"hi"', 'back\\slash', '{brace}', 'a,b', 'NULL', '\\N', "it's"]
    conll = "\n".join(f"{t}\t{'B-X' if i == 1 else 'O'}" for i, t in enumerate(tokens)) + "\n"
    (tmp_path / "a.tsv").write_text(conll)
    ingest_path(tmp_path / "a.tsv", "d", "train")
    text, toks, starts = conn.execute("SELECT text, tokens, token_starts FROM sentences").fetchone()
    assert toks == tokens and text == " ".join(tokens)
    assert [text[s:s + len(t)] for s, t in zip(starts, toks, strict=True)] == tokens
    assert conn.execute("SELECT text FROM entities").fetchone()[0] == '"hi"'

    rows = [{"text": "tab\there and back\\slash \\N", "entities": [{"start": 0, "end": 3, "label": "L\\1"}]},
            {"text": "carriage\rreturn", "doc_id": "d\t1"}]
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ingest_path(tmp_path / "b.jsonl", "d", "dev")
    got = conn.execute("SELECT text, doc_id, tokens FROM sentences WHERE split = 'dev' ORDER BY position").fetchall()
    assert got == [(rows[0]["text"], None, None), (rows[1]["text"], "d\t1", None)]
    assert conn.execute("SELECT label FROM entities WHERE label <> 'X'").fetchone()[0] == "L\\1"


def test_bad_sentence_deep_in_a_large_ingest_changes_nothing(conn, tmp_path):
    ingest_path(_big(tmp_path / "first.txt", 500), "big", "train")
    before = counts(conn)
    good = tmp_path / "dir"
    good.mkdir()
    _big(good / "a.txt", 30_000)
    bad = [json.dumps({"text": f"sentence number {i} about aspirin"}) for i in range(20_000)]
    bad[19_990] = json.dumps({"text": "bad span", "entities": [{"start": 4, "end": 99, "label": "X"}]})
    (good / "b.jsonl").write_text("\n".join(bad) + "\n")
    with pytest.raises(InputError, match=r"b\.jsonl:19991"):
        ingest_path(good, "big")
    assert counts(conn) == before
    # a failure inside the database after 30,000 sentences were copied: split names longer than
    # 100 characters break a CHECK constraint of sentences
    (good / "b.jsonl").unlink()
    _big(good / ("z" * 120 + ".txt"), 10)
    with pytest.raises(Exception, match="split"):
        ingest_path(good, "big")
    assert counts(conn) == before
    ingest_path(good / "a.txt", "big", "more")
    assert counts(conn)["sentences"] == before["sentences"] + 30_000


def _big(path, n):
    path.write_text("\n".join(f"Sentence {i} reports renal failure after drug {i % 97}." for i in range(n)) + "\n")
    return path


def test_deferred_bm25_step_indexes_every_file_of_a_command_once(conn, tmp_path):
    """One ingest command of several files into an existing dataset: the deferred BM25 step
    (one set-based call per command, the trigger switched off for the transaction) gives
    exactly the postings and statistics of the tsvectors, rankings equal bm25s; a direct SQL
    insert afterwards still goes through the trigger (the switch ended with the transaction);
    deleting the dataset leaves no BM25 rows."""
    from allabel.retrieval import bm25
    from tests.conftest import BC5CDR
    from tests.test_bm25 import lexemes, postings_match_tsvectors, queries_for, reference, same

    blocks = (BC5CDR / "train.tsv").read_text().split("\n\n")
    (tmp_path / "a.tsv").write_text("\n\n".join(blocks[:300]) + "\n")
    ingest_path(tmp_path / "a.tsv", "bc", "train")
    d = tmp_path / "more"
    d.mkdir()
    (d / "devel.tsv").write_text("\n\n".join(blocks[300:450]) + "\n")
    # plain text too (near-duplicate sentences would make float32 ties in bm25s: real ones)
    texts = [" ".join(ln.split("\t")[0] for ln in b.strip().splitlines()) for b in blocks[450:850]]
    (d / "extra.txt").write_text("\n".join(texts) + "\n")
    r = ingest_path(d, "bc")
    assert r.sentences == 550
    conn.execute("INSERT INTO sentences (dataset_id, split, position, text) SELECT id, 'sql', 0, "
                 "'Cisplatin nephrotoxicity after renal failure' FROM datasets WHERE name = 'bc'")
    postings_match_tsvectors(conn)
    ids, docs = lexemes(conn)
    n, total = conn.execute("SELECT n_docs, total_len FROM bm25_corpus").fetchone()
    assert n == len(ids) == 300 + 550 + 1 and total == sum(len(x) for x in docs)
    df = dict(conn.execute("SELECT lexeme, df FROM bm25_lexemes").fetchall())
    assert df == Counter(t for x in docs for t in set(x))
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'bc'").fetchone()[0]
    for q in queries_for(conn, 15):
        same(bm25.search(conn, ds, q, k=5), reference(conn, ids, docs, q, 5))
    conn.execute("DELETE FROM datasets")
    assert counts(conn) == dict.fromkeys(COUNT_TABLES, 0)


def test_bad_conll_line_late_in_a_large_ingest_changes_nothing(conn, tmp_path):
    """20,000 CoNLL sentences into an existing dataset, a malformed tag in the last one: the
    error names file and line, and no table (BM25 ones included) changes."""
    ingest_path(_big(tmp_path / "first.txt", 200), "big", "train")
    before = counts(conn)
    sentences = [f"Sentence\tO\n{i}\tO\ncauses\tO\nnephrotoxicity\tB-Disease\n" for i in range(20_000)]
    sentences[-1] = "Sentence\tO\nlast\tI-Disease\n"
    (tmp_path / "big.tsv").write_text("\n".join(sentences))
    last_line = 5 * 19_999 + 2
    with pytest.raises(InputError, match=rf"big\.tsv:{last_line}\b.*I-Disease"):
        ingest_path(tmp_path / "big.tsv", "big", "more")
    assert counts(conn) == before


def test_streamed_chunks_keep_order_ids_and_counts(conn, tmp_path, monkeypatch):
    """The parser hands sentences over in chunks (here of 7) while the COPY runs: positions
    follow the file across chunk and file boundaries, every entity lands on its own sentence
    (the database's span check would reject a shifted one), and each source_files row gets the
    counts of its whole file."""
    from allabel.ingest import stream

    monkeypatch.setattr(stream, "CHUNK", 7)
    monkeypatch.setattr(stream, "LOOKAHEAD", 2)
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.tsv").write_text("".join(f"Drug{i}\tB-Chemical\nhelps\tO\nrun{i}\tO\n\n" for i in range(50)))
    (d / "b.tsv").write_text("".join(f"w{i}\tO\nFever{i}\tB-Disease\n\n" for i in range(23)))
    r = ingest_path(d, "chunks")
    assert (r.sentences, r.entities) == (73, 73)
    for split, n, word in [("a", 50, "Drug"), ("b", 23, "Fever")]:
        rows = conn.execute("SELECT s.position, s.text, e.text FROM sentences s JOIN entities e "
                            "ON e.sentence_id = s.id WHERE s.split = %s ORDER BY s.position",
                            (split,)).fetchall()
        assert [p for p, _, _ in rows] == list(range(n))
        assert [e for _, _, e in rows] == [f"{word}{i}" for i in range(n)]
        assert all(e in t for _, t, e in rows)
    assert conn.execute("SELECT split, n_sentences, n_entities FROM source_files ORDER BY split"
                        ).fetchall() == [("a", 50, 50), ("b", 23, 23)]
    assert conn.execute("SELECT n_docs FROM bm25_corpus").fetchone()[0] == 73
