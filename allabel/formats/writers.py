"""Export formats, one writer class each, found by name in ``WRITERS`` (add a format by
registering a class; nothing else dispatches on the format name).

A writer receives ``Record``s (one sentence with the entities of one source) and writes them;
``close()`` returns what could not be written. CoNLL (IOB2) cannot hold nested, overlapping or
sub-token spans: those are counted by reason, listed in the file as ``# skipped_span = …``
comment lines (which ingest and import read as comments), and reported — never dropped
silently. Tokens and IOB2 tags are ``allabel.formats.spans`` (the same reading as ingest and import)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from allabel.formats.spans import iob_encode, tokens_of

FROM_NAME, TO_NAME = "label", "text"  # the names of our Label Studio labeling config
LLM_MODEL_VERSION = "allabel-llm"


@dataclass
class Record:
    """One sentence and the entities of one source (gold | human | llm | None = no entities yet)."""

    sentence_id: int
    text: str
    tokens: list[str] | None
    token_starts: list[int] | None
    entities: list[dict[str, Any]]
    source: str | None
    meta: dict[str, Any] = field(default_factory=dict)  # dataset, split, run_id, stage, rank, annotator…


@dataclass
class WriteStats:
    sentences: int = 0
    entities: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> spans not written

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


class Writer:
    """Base: ``write`` each record, then ``close``. ``label_config``: the export also needs the
    Label Studio labeling config of the dataset's labels (written beside the file)."""

    label_config = False

    def __init__(self, out: TextIO):
        self.out, self.stats = out, WriteStats()

    def write(self, rec: Record) -> None:
        self.stats.sentences += 1
        self.stats.entities += len(rec.entities)
        self._write(rec)

    def _write(self, rec: Record) -> None:
        raise NotImplementedError

    def close(self) -> WriteStats:
        return self.stats


WRITERS: dict[str, type[Writer]] = {}


def register(name: str) -> Callable[[type[Writer]], type[Writer]]:
    def deco(cls: type[Writer]) -> type[Writer]:
        WRITERS[name] = cls
        return cls
    return deco


def _entity(e: dict, with_confidence: bool) -> dict:
    out = {k: e[k] for k in ("start", "end", "label", "text")}
    if with_confidence and e.get("confidence") is not None:
        out["confidence"] = e["confidence"]
    return out


@register("jsonl")
class JsonlWriter(Writer):
    """One object a line: sentence_id, text, the record's metadata, entities_source, entities.
    Readable by ``allabel import`` (sentence_id, entities, annotator) and ``allabel ingest``
    (text, entities, doc_id)."""

    def _write(self, rec: Record) -> None:
        obj = {"sentence_id": rec.sentence_id, "text": rec.text, **rec.meta,
               "entities_source": rec.source,
               "entities": [_entity(e, rec.source == "llm") for e in rec.entities]}
        self.out.write(json.dumps(obj, ensure_ascii=False) + "\n")


@register("conll")
class ConllWriter(Writer):
    """token<TAB>IOB2 tag, a blank line between sentences, ``# key = value`` comment lines first
    (sentence_id, source, and every span IOB2 cannot hold). Re-ingests with ``allabel ingest``
    and re-imports with ``allabel import``."""

    def _write(self, rec: Record) -> None:
        toks = tokens_of(rec.text, rec.tokens, rec.token_starts)
        tags, skipped = iob_encode(toks, rec.entities)
        self.out.write(f"# sentence_id = {rec.sentence_id}\n")
        if rec.meta.get("doc_id"):
            self.out.write(f"# doc_id = {rec.meta['doc_id']}\n")
        self.out.write(f"# entities_source = {rec.source or 'none'}\n")
        for sp, reason in skipped:
            self.stats.skipped[reason] += 1
            self.out.write(f"# skipped_span = {sp['start']} {sp['end']} {sp['label']} {reason}: "
                           f"{json.dumps(sp['text'], ensure_ascii=False)}\n")
        for (tok, _), tag in zip(toks, tags, strict=True):
            self.out.write(f"{tok}\t{tag}\n")
        self.out.write("\n")


@register("labelstudio")
class LabelStudioWriter(Writer):
    """A Label Studio JSON task list. Gold and human entities become a task's ``annotations``
    (they are someone's answer), LLM entities its ``predictions`` (pre-annotations to accept or
    correct). The labeling config to use is written beside it (see ``labelconfig``)."""

    label_config = True

    def __init__(self, out: TextIO):
        super().__init__(out)
        self.tasks: list[dict] = []

    def _write(self, rec: Record) -> None:
        self.tasks.append(task_of(rec))

    def close(self) -> WriteStats:
        json.dump(self.tasks, self.out, ensure_ascii=False, indent=1)
        self.out.write("\n")
        return self.stats


def ls_results(entities: list[dict], with_score: bool) -> list[dict]:
    return [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
             "value": {"start": e["start"], "end": e["end"], "text": e["text"], "labels": [e["label"]]},
             **({"score": e["confidence"]} if with_score and e.get("confidence") is not None else {})}
            for e in entities]


def task_of(rec: Record) -> dict:
    """The Label Studio task of a record (data.sentence_id is what import and pull match on)."""
    task: dict[str, Any] = {"data": {"text": rec.text, "sentence_id": rec.sentence_id,
                                     **{k: v for k, v in rec.meta.items() if v is not None}}}
    if rec.source == "llm":
        task["predictions"] = [{"model_version": rec.meta.get("model") or LLM_MODEL_VERSION,
                                "result": ls_results(rec.entities, True)}]
    elif rec.source in ("gold", "human"):
        task["annotations"] = [{"result": ls_results(rec.entities, False)}]
    return task
