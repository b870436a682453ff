"""Write a run's sentences to annotate: labelstudio | jsonl | conll."""

from __future__ import annotations

import json
from typing import TextIO

from allabel import db
from allabel.errors import ConfigError
from allabel.sqlfiles import queries

Q = queries("annotation")
FORMATS = ("labelstudio", "jsonl", "conll")


def tokens_of(text: str, tokens: list[str] | None, starts: list[int] | None) -> list[tuple[str, int]]:
    """(token, start) pairs: the stored tokenisation, or whitespace tokens of the text."""
    if tokens is not None and starts is not None:
        return list(zip(tokens, starts, strict=True))
    out, pos = [], 0
    for tok in text.split():
        pos = text.index(tok, pos)
        out.append((tok, pos))
        pos += len(tok)
    return out


def iob_tags(toks: list[tuple[str, int]], spans: list[dict]) -> list[str]:
    tags = ["O"] * len(toks)
    for sp in sorted(spans, key=lambda e: (e["start"], -e["end"])):
        inside = [i for i, (t, s) in enumerate(toks) if s >= sp["start"] and s + len(t) <= sp["end"]]
        if not inside or any(tags[i] != "O" for i in inside):
            continue  # CoNLL cannot hold nested/overlapping or sub-token spans
        tags[inside[0]] = f"B-{sp['label']}"
        for i in inside[1:]:
            tags[i] = f"I-{sp['label']}"
    return tags


def export_run(run_id: int, fmt: str, out: TextIO, include_annotated: bool = False) -> int:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
    with db.connection() as conn:
        kind = conn.execute(Q.run_kind, {"run_id": run_id}).fetchone()
        if kind is None or kind[0] != "selection":
            raise ConfigError(f"run {run_id} is not a selection run")
        rows = conn.execute(Q.to_export, {"run_id": run_id, "all": include_annotated}).fetchall()
    tasks = []
    for sid, text, tokens, starts, stage, rank, _annotated, prefill in rows:
        if fmt == "labelstudio":
            task = {"data": {"text": text, "sentence_id": sid, "run_id": run_id, "stage": stage,
                             "rank": rank}}
            if prefill:
                task["predictions"] = [{"model_version": "allabel-llm", "result": [
                    {"from_name": "label", "to_name": "text", "type": "labels",
                     "value": {"start": e["start"], "end": e["end"], "text": e["text"],
                               "labels": [e["label"]]},
                     **({"score": e["confidence"]} if e.get("confidence") is not None else {})}
                    for e in prefill]}]
            tasks.append(task)
        elif fmt == "jsonl":
            out.write(json.dumps({"sentence_id": sid, "text": text, "stage": stage, "rank": rank,
                                  "prefilled": bool(prefill),
                                  "entities_source": "llm" if prefill else None,
                                  "entities": [{k: e[k] for k in ("start", "end", "label", "text")}
                                               for e in prefill]}, ensure_ascii=False) + "\n")
        else:
            toks = tokens_of(text, tokens, starts)
            out.write(f"# sentence_id = {sid}\n")
            out.write(f"# prefilled = {'llm' if prefill else 'no'}\n")
            for (tok, _), tag in zip(toks, iob_tags(toks, prefill), strict=True):
                out.write(f"{tok}\t{tag}\n")
            out.write("\n")
    if fmt == "labelstudio":
        json.dump(tasks, out, ensure_ascii=False, indent=1)
    return len(rows)
