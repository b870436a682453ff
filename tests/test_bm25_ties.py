"""BM25 ties (allabel/sql/migrations/017_bm25_tie_order.sql): the ranking key is the score rounded to float4, then
the sentence id, in the whole-dataset search (postings, MaxScore cut), the pool search and the
in-process PoolIndex. A corpus that repeats sentences has more tied candidates than k; the tie
must be filled with the lowest ids, as bm25s's float32 scores sorted by index are, whatever order
Postgres added a sentence's float64 terms in and whatever order the rows were inserted in."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np

from allabel.ingest import ingest_path
from allabel.retrieval import bm25
from allabel.retrieval.bm25 import PoolIndex
from tests.conftest import BC5CDR
from tests.test_bm25 import lexemes, reference, same


def new_dataset(conn, name: str) -> int:
    return conn.execute("INSERT INTO datasets (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]


def insert_scattered(conn, dataset_id: int, texts: list[str], lo: int, seed: int) -> dict[int, str]:
    """Insert texts with explicit ids from [lo, lo + 10 * len): ids are not in insertion order
    (the rows go in shuffled, over several statements, so each statement's BM25 trigger runs).
    Returns id -> text."""
    rnd = random.Random(seed)
    ids = sorted(rnd.sample(range(lo, lo + 10 * len(texts)), len(texts)))
    rows = list(zip(ids, texts, strict=True))
    rnd.shuffle(rows)
    for part in range(4):
        chunk = rows[part::4]
        conn.execute(
            "INSERT INTO sentences (id, dataset_id, split, position, text)"
            " SELECT i, %s, 'dup', p, t FROM unnest(%s::bigint[], %s::int[], %s::text[]) AS u(i, p, t)",
            (dataset_id, [i for i, _ in chunk], [i - lo for i, _ in chunk], [t for _, t in chunk]))
    assert [i for i, _ in rows] != ids  # the physical order is not the id order
    return dict(rows)


def bag(conn, text: str) -> list[str]:
    """A text's lexemes, each repeated tf times, sorted (the form of tests.test_bm25.lexemes)."""
    return [lx for lx, tf in conn.execute(
        "SELECT lexeme, coalesce(cardinality(positions), 1) FROM unnest(bm25_lexemes(%s)) ORDER BY 1",
        (text,)).fetchall() for _ in range(tf)]


def test_duplicates_fill_ties_with_lowest_ids_like_bm25s(conn, tmp_path):
    """Exact copies and word-order shuffles of a few sentences (identical lexeme bags: exact
    ties), plus copies one word longer (near-duplicates: just below), scattered ids: SQL over the
    dataset, SQL over a pool, PoolIndex and bm25s return the same top-k lists, order included."""
    blocks = (BC5CDR / "train.tsv").read_text().split("\n\n")
    (tmp_path / "a.tsv").write_text("\n\n".join(blocks[:150]) + "\n")
    ingest_path(tmp_path / "a.tsv", "bc", "train")
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'bc'").fetchone()[0]
    originals = [t for (t,) in conn.execute("SELECT text FROM sentences ORDER BY id")]
    rnd = random.Random(11)
    bases = rnd.sample([t for t in originals if len(t.split()) >= 12], 5)
    texts = []
    for b in bases:
        words = b.split()
        texts += [b] * 8
        for _ in range(3):
            rnd.shuffle(words)
            texts.append(" ".join(words))
        texts += [b + " marmot"] * 3
    rnd.shuffle(texts)
    by_id = insert_scattered(conn, ds, texts, 1_000_000, seed=5)

    ids, docs = lexemes(conn)
    all_ids = [r[0] for r in conn.execute("SELECT id FROM sentences ORDER BY id")]
    pool = sorted(set(by_id) | set(rnd.sample(all_ids[:len(originals)], 60)))
    pool_ids, pool_docs = lexemes(conn, pool)
    index = PoolIndex(conn, ds, pool)
    queries = bases + [" ".join(b.split()[:8]) for b in bases] + [" ".join(b.split()[4:]) for b in bases]
    qlex = index.query_lexemes(conn, queries)
    for n, (q, lx) in enumerate(zip(queries, qlex, strict=True)):
        for k in (5, 12):
            whole = bm25.search(conn, ds, q, k=k)
            same(whole, reference(conn, ids, docs, q, k))
            in_pool = bm25.search(conn, ds, q, k=k, within=pool)
            same(in_pool, reference(conn, pool_ids, pool_docs, q, k))
            assert index.search(lx, k) == in_pool  # exactly: same ids, same rounded scores
            if n < len(bases):
                # the base sentence's tie group: every sentence with its lexeme bag (the
                # original, 8 copies, 3 shuffles) - more than k; those listed are its lowest ids
                group = sorted(i for i, d in zip(ids, docs, strict=True) if d == bag(conn, q))
                assert len(group) > 5
                for hits, among in ((whole, group), (in_pool, [i for i in group if i in pool])):
                    listed = [i for i, _ in hits if i in among]
                    assert listed and listed == among[:len(listed)]
                    assert len({s for i, s in hits if i in among}) == 1  # one score for the tie


def test_equal_scores_summed_in_another_order_tie(conn):
    """Sentences whose scores are mathematically equal but whose float64 sums are not (the
    query terms' contributions added in another order: term frequencies 1, 2, 3 permuted over
    three terms with the same df): all tie, the lowest ids first, in both SQL paths and the
    PoolIndex. (bm25s is not the reference here: its float32 sums depend on the order too.)"""
    ds = new_dataset(conn, "perm")
    terms = ["quokka", "wombat", "numbat"]
    texts = []
    for tfs in itertools.permutations((1, 2, 3)):
        texts += [" ".join(t for t, n in zip(terms, tfs, strict=True) for _ in range(n))] * 3
    texts += [f"heron {w} badger" for w in ("otter", "walrus", "marmot", "lemur", "tapir") for _ in range(9)]
    texts += [" ".join(terms) + " heron badger otter lemur"] * 4  # lower: tf 1 each, longer
    by_id = insert_scattered(conn, ds, texts, 5_000_000, seed=9)
    tied = sorted(i for i, t in by_id.items() if len(t.split()) == 6)
    assert len(tied) == 18

    # precondition: the float64 sums really differ by the order of addition (else the test
    # would not tell a float64 ranking from a rounded one)
    n_docs, total = conn.execute("SELECT n_docs, total_len FROM bm25_corpus WHERE dataset_id = %s",
                                 (ds,)).fetchone()
    idf = math.log(1 + (n_docs - 22 + 0.5) / (22 + 0.5))
    part = {tf: idf * tf / (tf + 1.2 * (1 - 0.75) + 1.2 * 0.75 / (total / n_docs) * 6) for tf in (1, 2, 3)}
    sums = {(part[a] + part[b]) + part[c] for a, b, c in itertools.permutations((1, 2, 3))}
    assert len(sums) > 1 and len({np.float32(s) for s in sums}) == 1

    index = PoolIndex(conn, ds, sorted(by_id))
    lx = index.query_lexemes(conn, ["numbat quokka wombat"])[0]
    for k in (5, 18, 20):
        whole = bm25.search(conn, ds, "numbat quokka wombat", k=k)
        in_pool = bm25.search(conn, ds, "numbat quokka wombat", k=k, within=sorted(by_id))
        assert [i for i, _ in whole] == tied[:k] + [i for i, _ in whole[18:]]
        assert len({s for _, s in whole[:min(k, 18)]}) == 1
        assert index.search(lx, k) == in_pool
        assert [i for i, _ in in_pool] == [i for i, _ in whole]
        assert np.allclose([s for _, s in in_pool], [s for _, s in whole], rtol=1e-6)
    assert bm25.search(conn, ds, "numbat quokka wombat", k=5, exclude=tied[0]) == \
        [(i, whole[0][1]) for i in tied[1:6]]


def test_maxscore_cut_keeps_a_tie_beyond_the_first_round(conn):
    """The cut must compare keys: three query terms with the same statistics, each held by
    1,000 long sentences and 6 short ones (all short ones score the same s). The first round
    scores only the first term's holders (the postings budget), theta is s rounded to float4,
    which here is above s; the other terms' short sentences have the lowest ids and belong in
    the top 5, and only a cut that compares rounded bounds to theta scores them (a float64 bound
    below the float4 theta would end the search after the first round)."""
    ds = new_dataset(conn, "cut")
    terms = ["xylophone", "yodeler", "zeppelin"]
    pad = "heron badger otter lemur tapir"
    conn.execute("SELECT setval(pg_get_serial_sequence('sentences', 'id'), 1000)")  # ids <= 1000: ours
    # the first term inserted first: it gets the lowest lexeme id, so it is the first round's
    for t in terms:
        conn.execute("INSERT INTO sentences (dataset_id, split, position, text)"
                     " SELECT %s, %s, g, %s FROM generate_series(1, 1000) g", (ds, t, f"{t} {pad}"))
    first, *_, last = conn.execute(
        "SELECT lexeme FROM bm25_lexemes WHERE dataset_id = %s AND lexeme = ANY (%s) ORDER BY id",
        (ds, [bm25_lexeme(conn, t) for t in terms])).fetchall()
    assert first[0] == bm25_lexeme(conn, terms[0]) and last[0] == bm25_lexeme(conn, terms[2])
    # short sentences with explicit, lower ids: the last term's first, then the middle one's
    short = {}
    for j, t in enumerate(reversed(terms)):
        for m in range(6):
            short[10 * j + m + 1] = f"{t} marmot walrus"
    conn.execute("INSERT INTO sentences (id, dataset_id, split, position, text)"
                 " SELECT i, %s, 'short', i, t FROM unnest(%s::bigint[], %s::text[]) AS u(i, t)",
                 (ds, list(short), list(short.values())))

    n_docs, total = conn.execute("SELECT n_docs, total_len FROM bm25_corpus WHERE dataset_id = %s",
                                 (ds,)).fetchone()
    assert (n_docs, total) == (3018, 3000 * 6 + 18 * 3)
    w = math.log(1 + (n_docs - 1006 + 0.5) / (1006 + 0.5))
    s = w * 1 / (1 + 1.2 * (1 - 0.75) + 1.2 * 0.75 / (total / n_docs) * 3)
    assert float(np.float32(s)) > s * (1 + 1e-9)  # precondition: theta (rounded) above s

    query = " ".join(terms)
    got = bm25.search(conn, ds, query, k=5)
    assert [i for i, _ in got] == [1, 2, 3, 4, 5]  # the last term's short sentences
    assert {sc for _, sc in got} == {float(np.float32(s))}
    got = bm25.search(conn, ds, query, k=9)
    assert [i for i, _ in got] == [1, 2, 3, 4, 5, 6, 11, 12, 13]
    all_ids = [r[0] for r in conn.execute("SELECT id FROM sentences WHERE dataset_id = %s", (ds,))]
    assert bm25.search(conn, ds, query, k=9, within=all_ids) == got


def bm25_lexeme(conn, word: str) -> str:
    return conn.execute("SELECT (tsvector_to_array(bm25_lexemes(%s)))[1]", (word,)).fetchone()[0]
