"""Write sentences with their entities in any format that can be written (``allabel.formats.registry``).

Two kinds of export:
* ``export_run(RUN)``: the annotation hand-off of a selection run — the sentences still to
  annotate, pre-filled with the latest LLM prediction (``--all``: annotated ones too, with their
  annotation, never the LLM spans a person removed).
* ``export_entities(source, dataset|run, split)``: the entities of one source — ``gold`` (the
  corpus), ``human`` (the latest annotation of each sentence) or ``llm`` (the latest finished
  prediction of each sentence) — of a dataset, a split, a selection run's picks or a prediction
  run's sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from allabel.annotate.labelconfig import label_config
from allabel.core.errors import ConfigError
from allabel.formats import registry
from allabel.formats.writers import Record, Writer, WriteStats
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("annotation")
SOURCES = ("gold", "human", "llm")
FORMATS = registry.exportable()

__all__ = ["FORMATS", "SOURCES", "ExportResult", "export_entities", "export_run", "run_records"]


@dataclass
class ExportResult(WriteStats):
    label_config: str | None = None  # the Label Studio labeling config (labelstudio format only)

    def skipped_line(self) -> str | None:
        """One line naming the spans the format could not hold, or None when there were none."""
        if not self.n_skipped:
            return None
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return (f"{self.n_skipped} of {self.entities} spans cannot be written in IOB2 ({why}); "
                f"they are listed as '# skipped_span' lines; use --format jsonl to keep them")


def _writer(fmt: str, out: TextIO) -> Writer:
    cls = registry.writer(fmt)
    return cls(out)


def _finish(writer: Writer, conn, dataset_id: int) -> ExportResult:
    st = writer.close()
    res = ExportResult(st.sentences, st.entities, st.skipped)
    if writer.label_config:
        res.label_config = label_config(db.rows(conn, Q.dataset_labels, {"dataset_id": dataset_id}))
    return res


def _run_info(conn, run_id: int) -> tuple[str, int, str]:
    """(kind, dataset id, dataset name) of a run."""
    row = db.one(conn, Q.run_info, {"run_id": run_id})
    if row is None:
        raise ConfigError(f"no run {run_id}")
    return row["kind"], row["dataset_id"], row["dataset"]


def _record(row: dict[str, Any], source: str | None, meta: dict[str, Any]) -> Record:
    """A sentence row of annotation.sql (id, text, tokens, token_starts, entities) as a Record."""
    return Record(row["id"], row["text"], row["tokens"], row["token_starts"], row["entities"], source, meta)


def run_records(conn, run_id: int, include_annotated: bool, dataset: str):
    """The records of a selection run's annotation hand-off, in selection order."""
    for r in db.rows(conn, Q.to_export, {"run_id": run_id, "all": include_annotated}):
        meta: dict[str, Any] = {"dataset": dataset, "run_id": run_id, "stage": r["stage"], "rank": r["rank"]}
        if r["source"] == "human":
            meta["annotator"] = r["annotator"]
        yield _record(r, r["source"], meta)


def export_run(run_id: int, fmt: str, out: TextIO, include_annotated: bool = False) -> ExportResult:
    """The sentences of a selection run still to annotate (all with ``include_annotated``)."""
    writer = _writer(fmt, out)
    with db.connection() as conn:
        kind, dataset_id, dataset = _run_info(conn, run_id)
        if kind != "selection":
            raise ConfigError(f"run {run_id} is a {kind} run; export it with --source llm|gold|human")
        for rec in run_records(conn, run_id, include_annotated, dataset):
            writer.write(rec)
        return _finish(writer, conn, dataset_id)


def export_entities(source: str, fmt: str, out: TextIO, dataset: str | None = None,
                    split: str | None = None, run_id: int | None = None) -> ExportResult:
    """The entities of ``source`` for a dataset (optionally one split) or a run's sentences."""
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
    writer = _writer(fmt, out)
    with db.connection() as conn:
        selection_run = prediction_run = None
        if run_id is not None:
            kind, dataset_id, run_dataset = _run_info(conn, run_id)
            if dataset is not None and dataset != run_dataset:
                raise ConfigError(f"run {run_id} belongs to dataset {run_dataset!r}, not {dataset!r}")
            dataset = run_dataset
            selection_run, prediction_run = (run_id, None) if kind == "selection" else (None, run_id)
        elif dataset is None:
            raise ConfigError("give a RUN or --dataset NAME")
        else:
            dataset_id = db.dataset_id(conn, dataset)
        params = {"dataset_id": dataset_id, "split": split, "selection_run": selection_run,
                  "prediction_run": prediction_run, "source": source}
        for r in db.rows(conn, Q.export_entities, params):
            meta: dict[str, Any] = {"dataset": dataset, "split": r["split"], "doc_id": r["doc_id"]}
            if r["stage"] is not None:
                meta.update(stage=r["stage"], rank=r["rank"])
            if source != "gold":
                meta["run_id"] = r["run_id"]
            if source == "human":
                meta.update(annotator=r["annotator"], origin=r["origin"])
            if source == "llm":
                meta["model"] = r["model"]
            writer.write(_record(r, source, meta))
        return _finish(writer, conn, dataset_id)


def write_label_config(res: ExportResult, path: Path) -> Path | None:
    if res.label_config is None:
        return None
    path.write_text(res.label_config, encoding="utf-8")
    return path
