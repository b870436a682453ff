"""Embeddings with the real bundled model: unit vectors, nothing re-embedded, resume, load."""

from __future__ import annotations

import numpy as np

from allabel.ingest import ingest_path
from allabel.retrieval.embed import embed_dataset, embed_worker, encode, load_vectors
from tests.conftest import BC5CDR


def _small(tmp_path, n=40):
    lines = (BC5CDR / "train.tsv").read_text().split("\n\n")
    (tmp_path / "a.tsv").write_text("\n\n".join(lines[:n]) + "\n")
    ingest_path(tmp_path / "a.tsv", "bc", "train")


def test_embed_resume_and_load(conn, cli, tmp_path):
    _small(tmp_path)
    ds = conn.execute("SELECT id FROM datasets").fetchone()[0]
    # a partial run: one batch of 16, as if the job had been killed after it
    st = embed_worker(ds, 16, limit_batches=1)
    assert st.embedded == 16
    assert conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 16
    first = conn.execute("SELECT sentence_id, created_at FROM embeddings ORDER BY 1").fetchall()
    code, out, _ = cli("embed", "--dataset", "bc", "--batch-size", "10")
    assert code == 0 and "embedded 24 sentences" in out
    # the first 16 were not redone
    again = conn.execute("SELECT sentence_id, created_at FROM embeddings ORDER BY 1").fetchall()
    assert set(first) <= set(again) and len(again) == 40
    code, out, _ = cli("embed", "--dataset", "bc")
    assert code == 0 and out.startswith("nothing to do")
    ids, X = load_vectors(conn, ds)
    assert len(ids) == 40 and X.shape == (40, 384) and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    text = conn.execute("SELECT text FROM sentences WHERE id = %s", (int(ids[3]),)).fetchone()[0]
    assert np.allclose(X[3], encode([text])[0], atol=1e-5)
    sub_ids, sub = load_vectors(conn, ds, sentence_ids=[int(ids[0]), int(ids[5])])
    assert list(sub_ids) == [ids[0], ids[5]] and np.allclose(sub[1], X[5])


def test_embed_unknown_dataset(cli):
    code, _, err = cli("embed", "--dataset", "nope")
    assert code == 4 and "unknown dataset 'nope'" in err


def test_two_workers_embed_each_sentence_once(conn, tmp_path):
    _small(tmp_path, 30)
    st = embed_dataset("bc", batch_size=5, workers=2, show_progress=False)
    assert st.embedded == 30
    assert conn.execute("SELECT count(*), count(DISTINCT sentence_id) FROM embeddings").fetchone() \
        == (30, 30)
