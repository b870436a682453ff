"""Writes parsed files to Postgres in bulk (COPY), all files of one ingest in one transaction."""

from __future__ import annotations

import psycopg

from allabel.ingest.formats import ParsedSentence
from allabel.sqlfiles import queries

Q = queries("ingest")


def ensure_dataset(conn: psycopg.Connection, name: str) -> int:
    conn.execute(Q.insert_dataset, {"name": name})
    return conn.execute(Q.dataset_id, {"name": name}).fetchone()[0]


def upsert_labels(conn: psycopg.Connection, dataset_id: int, labels: dict[str, str | None]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            Q.upsert_label,
            [{"dataset_id": dataset_id, "name": k, "description": v} for k, v in labels.items()],
        )


def file_already_ingested(conn: psycopg.Connection, dataset_id: int, split: str, sha: str) -> bool:
    row = conn.execute(Q.source_file_exists,
                       {"dataset_id": dataset_id, "split": split, "sha256": sha}).fetchone()
    return row is not None


def write_file(
    conn: psycopg.Connection, dataset_id: int, split: str, path: str, sha: str, fmt: str,
    sentences: list[ParsedSentence],
) -> tuple[int, int]:
    """COPY one file's sentences and gold entities. Returns (sentences, entities) written."""
    n_ent = sum(len(s.entities) for s in sentences)
    file_id = conn.execute(Q.insert_source_file, {
        "dataset_id": dataset_id, "split": split, "path": path, "sha256": sha, "format": fmt,
        "n_sentences": len(sentences), "n_entities": n_ent,
    }).fetchone()[0]
    first = conn.execute(Q.next_position, {"dataset_id": dataset_id, "split": split}).fetchone()[0]
    with conn.cursor() as cur:
        with cur.copy(Q.copy_sentences) as copy:
            copy.set_types(["int4", "text", "text", "int4", "int4", "text", "text[]", "int4[]"])
            for i, s in enumerate(sentences):
                copy.write_row((dataset_id, split, s.doc_id, first + i, file_id, s.text,
                                s.tokens, s.token_starts))
        if n_ent:
            ids = [r[0] for r in cur.execute(Q.sentence_ids_by_position, {
                "dataset_id": dataset_id, "split": split, "first": first,
                "last": first + len(sentences) - 1})]
            with cur.copy(Q.copy_gold_entities) as copy:
                copy.set_types(["int8", "int4", "int4", "text", "text", "text"])
                for sid, s in zip(ids, sentences, strict=True):
                    for e in s.entities:
                        copy.write_row((sid, e.start, e.end, e.label, e.text, "gold"))
    return len(sentences), n_ent
