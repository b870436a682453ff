"""A small embedded bc5cdr sample shared by the selection and annotation tests."""

from __future__ import annotations

from pathlib import Path

from allabel.ingest import ingest_path
from allabel.retrieval.embed import embed_dataset
from tests.conftest import BC5CDR


def small_corpus(tmp: Path, sizes=(("train", 50), ("devel", 20), ("test", 10)), embed=True) -> None:
    for split, n in sizes:
        blocks = (BC5CDR / f"{split}.tsv").read_text().split("\n\n")
        (tmp / f"{split}.tsv").write_text("\n\n".join(blocks[:n]) + "\n")
    ingest_path(tmp, "bc")
    if embed:
        embed_dataset("bc", show_progress=False)

