"""Few-shot prompts for entity recognition.

The instruction names the dataset's labels with their descriptions; each demonstration is a
(user: sentence, assistant: answer) pair in exactly the format the model must answer in.
Demonstrations come most-similar-last, so the closest example sits next to the sentence to label.

Two answer formats (setting ``prompt_format``; ``auto``: lines for the local model, json for
endpoints), each with its own prompt version so runs and the LLM cache never mix them:
* ``json`` — a JSON list of {"text", "label"} objects in order of appearance (``ner-json-v1``);
* ``lines`` — one ``Type: mention`` line per mention, ``none`` when there is none
  (``ner-lines-v1``): about 30% fewer prompt tokens at k = 4 and a third fewer answer tokens,
  which is what a CPU pays for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from allabel.llm.base import Message

PROMPT_VERSIONS = {"json": "ner-json-v1", "lines": "ner-lines-v1"}
NONE_ANSWER = "none"


def answer_format(fmt: str | None = None) -> str:
    """The configured answer format. ``auto`` (default): ``lines`` for the local model — on 150
    bc5cdr devel sentences SmolLM2-135M scored F1 0.418 with it against 0.271 with json, 2.4x
    faster — and ``json`` for endpoints (larger models, structured output)."""
    if fmt is None or fmt == "auto":
        from allabel.core.config import get_settings

        s = get_settings()
        fmt = s.prompt_format if fmt is None else "auto"
        if fmt == "auto":
            fmt = "lines" if s.effective_llm_backend == "local" else "json"
        if s.effective_llm_backend == "openai" and s.llm_response_format != "none" and fmt != "json":
            from allabel.core.errors import ConfigError

            raise ConfigError("llm_response_format asks the endpoint for JSON: use prompt_format json or auto")
    if fmt not in PROMPT_VERSIONS:
        raise ValueError(f"unknown answer format {fmt!r}")
    return fmt


def prompt_version(fmt: str | None = None) -> str:
    return PROMPT_VERSIONS[answer_format(fmt)]


@dataclass
class Demo:
    text: str
    entities: list[tuple[int, int, str, str]]  # (start, end, label, text)


def format_answer(entities: list[tuple[int, int, str, str]], fmt: str | None = None) -> str:
    ordered = sorted(entities, key=lambda e: (e[0], e[1]))
    if answer_format(fmt) == "lines":
        return "\n".join(f"{lab}: {t}" for _, _, lab, t in ordered) or NONE_ANSWER
    return json.dumps([{"text": t, "label": lab} for _, _, lab, t in ordered], ensure_ascii=False)


def instruction(labels: dict[str, str | None], fmt: str | None = None) -> str:
    lines = ["You are an expert annotator for named entity recognition.",
             "Entity types:"]
    for name, desc in labels.items():
        lines.append(f"- {name}: {desc}" if desc else f"- {name}")
    if answer_format(fmt) == "lines":
        lines.append("Find every entity mention in the sentence. Write one line per mention, in "
                     "order of appearance: the entity type, a colon, and the mention copied exactly "
                     f"from the sentence. Write {NONE_ANSWER} if there is none.")
        return "\n".join(lines)
    lines.append('Find every entity mention in the sentence. Answer with a JSON list of objects '
                 '{"text": <the mention copied exactly from the sentence>, "label": <one entity '
                 'type>}, in order of appearance. Answer [] if there is none. Answer with the '
                 'JSON list only.')
    return "\n".join(lines)


def build_messages(labels: dict[str, str | None], demos: list[Demo], sentence: str,
                   fmt: str | None = None) -> list[Message]:
    fmt = answer_format(fmt)
    msgs: list[Message] = [{"role": "system", "content": instruction(labels, fmt)}]
    for d in demos:
        msgs.append({"role": "user", "content": f"Sentence: {d.text}"})
        msgs.append({"role": "assistant", "content": format_answer(d.entities, fmt)})
    msgs.append({"role": "user", "content": f"Sentence: {sentence}"})
    return msgs
