"""Few-shot prompts for entity recognition.

The instruction names the dataset's labels with their descriptions; each demonstration is a
(user: sentence, assistant: answer) pair in exactly the format the model must answer in: a JSON
list of {"text", "label"} objects, in order of appearance. Demonstrations come most-similar-last,
so the closest example sits next to the sentence to label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from allabel.llm.base import Message

PROMPT_VERSION = "ner-json-v1"


@dataclass
class Demo:
    text: str
    entities: list[tuple[int, int, str, str]]  # (start, end, label, text)


def format_answer(entities: list[tuple[int, int, str, str]]) -> str:
    ordered = sorted(entities, key=lambda e: (e[0], e[1]))
    return json.dumps([{"text": t, "label": lab} for _, _, lab, t in ordered], ensure_ascii=False)


def instruction(labels: dict[str, str | None]) -> str:
    lines = ["You are an expert annotator for named entity recognition.",
             "Entity types:"]
    for name, desc in labels.items():
        lines.append(f"- {name}: {desc}" if desc else f"- {name}")
    lines.append('Find every entity mention in the sentence. Answer with a JSON list of objects '
                 '{"text": <the mention copied exactly from the sentence>, "label": <one entity '
                 'type>}, in order of appearance. Answer [] if there is none. Answer with the '
                 'JSON list only.')
    return "\n".join(lines)


def build_messages(labels: dict[str, str | None], demos: list[Demo], sentence: str) -> list[Message]:
    msgs: list[Message] = [{"role": "system", "content": instruction(labels)}]
    for d in demos:
        msgs.append({"role": "user", "content": f"Sentence: {d.text}"})
        msgs.append({"role": "assistant", "content": format_answer(d.entities)})
    msgs.append({"role": "user", "content": f"Sentence: {sentence}"})
    return msgs
