"""BM25 in SQL equals the bm25s package (method lucene) on identical lexemes: whole dataset
(pruned search) and restricted pools; statistics stay current as sentences arrive."""

from __future__ import annotations

import random

import bm25s
import numpy as np
import pytest

from allabel.ingest import ingest_path
from allabel.retrieval import bm25
from tests.conftest import BC5CDR

N_TRAIN = 600


@pytest.fixture()
def corpus(conn, tmp_path):
    lines = (BC5CDR / "train.tsv").read_text().split("\n\n")
    (tmp_path / "a.tsv").write_text("\n\n".join(lines[:N_TRAIN]) + "\n")
    ingest_path(tmp_path / "a.tsv", "bc", "train")
    return conn.execute("SELECT id FROM datasets WHERE name = 'bc'").fetchone()[0]


def lexemes(conn, ids=None) -> tuple[list[int], list[list[str]]]:
    rows = conn.execute(
        "SELECT s.id, coalesce(array_agg(u.lexeme ORDER BY u.lexeme) FILTER (WHERE u.lexeme IS NOT NULL), '{}'),"
        " coalesce(array_agg(coalesce(cardinality(u.positions), 1) ORDER BY u.lexeme)"
        "   FILTER (WHERE u.lexeme IS NOT NULL), '{}')"
        " FROM sentences s LEFT JOIN LATERAL unnest(s.tsv) u ON true"
        " WHERE %s::bigint[] IS NULL OR s.id = ANY(%s::bigint[]) GROUP BY s.id ORDER BY s.id",
        (ids, ids)).fetchall()
    return [r[0] for r in rows], [[lx for lx, c in zip(r[1], r[2], strict=False) for _ in range(c)] for r in rows]


def reference(conn, ids, docs, query: str, k: int, exclude=None):
    vocab: dict[str, int] = {}
    doc_ids = [[vocab.setdefault(t, len(vocab)) for t in d] for d in docs]
    r = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    r.index(bm25s.tokenization.Tokenized(ids=doc_ids, vocab=vocab), show_progress=False)
    q = [lx for lx, c in conn.execute(
        "SELECT lexeme, coalesce(cardinality(positions), 1) FROM unnest(bm25_lexemes(%s))",
        (query,)).fetchall() for _ in range(c)]
    qids = [vocab[t] for t in q if t in vocab]
    if not qids:
        return []
    scores = np.asarray(r.get_scores(qids), dtype=np.float64)
    order = sorted((i for i in range(len(ids)) if scores[i] > 0 and ids[i] != exclude),
                   key=lambda i: (-scores[i], ids[i]))
    return [(ids[i], float(scores[i])) for i in order[:k]]


def same(got, exp):
    assert [g[0] for g in got] == [e[0] for e in exp]
    assert np.allclose([g[1] for g in got], [e[1] for e in exp], rtol=1e-5, atol=1e-5)


def queries_for(conn, n=40):
    texts = [t for (t,) in conn.execute("SELECT text FROM sentences ORDER BY id")]
    random.Random(7).shuffle(texts)
    extra = ["cisplatin cisplatin nephrotoxicity", "zzzunknownword qqqabsent",
             "patients patients patients with the of", "renal failure induced by lithium"]
    return texts[:n] + extra


def test_whole_dataset_equals_bm25s(conn, corpus):
    ids, docs = lexemes(conn)
    for q in queries_for(conn):
        same(bm25.search(conn, corpus, q, k=5), reference(conn, ids, docs, q, 5))


def test_pool_restricted_equals_bm25s_with_exclude(conn, corpus):
    all_ids = [r[0] for r in conn.execute("SELECT id FROM sentences ORDER BY id")]
    pool = sorted(random.Random(3).sample(all_ids, 120))
    ids, docs = lexemes(conn, pool)
    for q_id, q in conn.execute("SELECT id, text FROM sentences WHERE id = ANY(%s) LIMIT 15",
                                (pool,)).fetchall():
        got = bm25.search(conn, corpus, q, k=4, within=pool, exclude=q_id)
        assert q_id not in [g[0] for g in got]
        same(got, reference(conn, ids, docs, q, 4, exclude=q_id))


def test_statistics_follow_inserts(conn, corpus, tmp_path):
    lines = (BC5CDR / "devel.tsv").read_text().split("\n\n")
    (tmp_path / "b.tsv").write_text("\n\n".join(lines[:150]) + "\n")
    ingest_path(tmp_path / "b.tsv", "bc", "devel")
    n, total = conn.execute("SELECT n_docs, total_len FROM bm25_corpus").fetchone()
    ids, docs = lexemes(conn)
    assert n == len(ids) == N_TRAIN + 150 and total == sum(len(d) for d in docs)
    df = dict(conn.execute("SELECT lexeme, df FROM bm25_lexemes").fetchall())
    ref: dict[str, int] = {}
    for d in docs:
        for t in set(d):
            ref[t] = ref.get(t, 0) + 1
    assert df == ref
    for q in queries_for(conn, 10):
        same(bm25.search(conn, corpus, q, k=5), reference(conn, ids, docs, q, 5))


def test_exclude_and_empty_queries(conn, corpus):
    sid, text = conn.execute("SELECT id, text FROM sentences ORDER BY id LIMIT 1").fetchone()
    assert bm25.search(conn, corpus, text, k=1)[0][0] == sid
    assert sid not in [r[0] for r in bm25.search(conn, corpus, text, k=5, exclude=sid)]
    assert bm25.search(conn, corpus, "the of and", k=5) == []  # stop words only


def test_search_cli(cli, corpus):
    code, out, _ = cli("search", "--dataset", "bc", "cisplatin nephrotoxicity", "--k", "3")
    assert code == 0 and len(out.strip().splitlines()) == 3
    assert "cisplatin" in out.lower()


def test_in_process_pool_index_equals_sql(conn, corpus):
    from allabel.retrieval.bm25 import PoolIndex

    all_ids = [r[0] for r in conn.execute("SELECT id FROM sentences ORDER BY id")]
    pool = sorted(random.Random(5).sample(all_ids, 250))
    index = PoolIndex(conn, corpus, pool)
    qs = conn.execute("SELECT id, text FROM sentences ORDER BY id DESC LIMIT 40").fetchall()
    lexemes = index.query_lexemes(conn, [t for _, t in qs] + ["zzz unknownword", "the of"])
    for (qid, q), lx in zip(qs, lexemes, strict=False):
        same(index.search(lx, 5, exclude=qid), bm25.search(conn, corpus, q, k=5, within=pool, exclude=qid))
    assert index.search(lexemes[-2], 5) == [] and index.search(lexemes[-1], 5) == []


def postings_match_tsvectors(conn) -> None:
    """bm25_postings holds exactly one row per (sentence, lexeme) with its tf and length."""
    expected = conn.execute(
        "SELECT l.id, s.id, coalesce(cardinality(u.positions), 1),"
        " (SELECT coalesce(sum(coalesce(cardinality(x.positions), 1)), 0) FROM unnest(s.tsv) x)"
        " FROM sentences s CROSS JOIN LATERAL unnest(s.tsv) u"
        " JOIN bm25_lexemes l ON l.dataset_id = s.dataset_id AND l.lexeme = u.lexeme ORDER BY 1, 2"
    ).fetchall()
    got = conn.execute("SELECT lexeme_id, sentence_id, tf, dl FROM bm25_postings ORDER BY 1, 2").fetchall()
    assert got == expected


def test_postings_follow_ingests_and_deletes(conn, corpus, tmp_path):
    """Ingests into an existing dataset (a new split, then another file into that split) and
    deletes keep postings and statistics exact: rankings still equal bm25s, at k 5 and 50."""
    blocks = (BC5CDR / "devel.tsv").read_text().split("\n\n")
    (tmp_path / "b.tsv").write_text("\n\n".join(blocks[:200]) + "\n")
    (tmp_path / "c.tsv").write_text("\n\n".join(blocks[200:260]) + "\n")
    ingest_path(tmp_path / "b.tsv", "bc", "devel")
    ingest_path(tmp_path / "c.tsv", "bc", "devel")
    postings_match_tsvectors(conn)
    ids, docs = lexemes(conn)
    assert len(ids) == N_TRAIN + 260
    for q in queries_for(conn, 25):
        same(bm25.search(conn, corpus, q, k=5), reference(conn, ids, docs, q, 5))
        same(bm25.search(conn, corpus, q, k=50), reference(conn, ids, docs, q, 50))
    qid, qtext = conn.execute("SELECT id, text FROM sentences ORDER BY id DESC LIMIT 1").fetchone()
    same(bm25.search(conn, corpus, qtext, k=5, exclude=qid), reference(conn, ids, docs, qtext, 5, exclude=qid))

    conn.execute("DELETE FROM sentences WHERE id % 7 = 0")
    postings_match_tsvectors(conn)
    ids, docs = lexemes(conn)
    n, total = conn.execute("SELECT n_docs, total_len FROM bm25_corpus").fetchone()
    assert n == len(ids) and total == sum(len(d) for d in docs)
    for q in queries_for(conn, 15):
        same(bm25.search(conn, corpus, q, k=5), reference(conn, ids, docs, q, 5))

    conn.execute("DELETE FROM datasets")
    assert conn.execute("SELECT count(*) FROM bm25_postings").fetchone()[0] == 0
