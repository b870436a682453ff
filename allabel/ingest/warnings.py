"""What ingest says beside its counts: warnings that change nothing but save a person a wrong
turn, and the labels a command added. Why: an ingest without labels succeeded silently and only
``predict`` complained later; ``--format text`` on a CoNLL file stored every ``token<TAB>O`` line
as a "sentence"; re-ingesting with ``--labels`` added the labels but said "nothing to do"."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("ingest")
DEFAULT_SPLIT = "pool"  # a lone file without --split: sentences to select from (docs/ingest.md)
SNIFF_LINES = 200
_CONLL_LINE = re.compile(r"^\S+(\t\S+)*\t(O|[BIES]-\S+)$")


def looks_like_conll(path: Path) -> bool:
    """Do most of the first non-blank lines read ``token<TAB>...<TAB>tag`` with an IOB tag?"""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            lines = []
            for raw in f:
                line = raw.rstrip("\r\n")
                if line.strip() and not line.startswith("#"):
                    lines.append(line)
                if len(lines) >= SNIFF_LINES:
                    break
    except OSError:
        return False
    if len(lines) < 3:
        return False
    return sum(1 for ln in lines if _CONLL_LINE.match(ln)) >= 0.8 * len(lines)


def text_file_warnings(targets: list[tuple[Path, str, str]]) -> list[str]:
    """(path, split, format) of the files to read -> a warning for each text file that looks like CoNLL."""
    return [f"{p}: read as --format text (one sentence a line) but it looks like CoNLL "
            f"(token<TAB>tag lines): every line becomes a sentence; for CoNLL use --format conll "
            f"(allabel datasets drop NAME removes a wrong ingest)"
            for p, _split, fmt in targets if fmt == "text" and looks_like_conll(p)]


def label_names(conn: psycopg.Connection, dataset_id: int) -> set[str]:
    return {r["name"] for r in db.rows(conn, Q.label_names, {"dataset_id": dataset_id})}


def no_labels_warning(dataset: str) -> str:
    return (f"dataset {dataset!r} has no entity labels: predict and stage 3 need them; add them "
            f"with allabel ingest PATH --dataset {dataset} --labels FILE (a JSON or TSV file: "
            f"label -> description, docs/ingest.md)")
