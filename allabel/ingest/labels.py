"""The optional ``--labels`` file: a description for each entity label (shown to the LLM).

JSON ``{"Chemical": "drugs and chemical compounds", ...}`` or TSV ``label<TAB>description``."""

from __future__ import annotations

import json
from pathlib import Path

from allabel.core.errors import InputError
from allabel.formats.corpus import decode_lines


def read_labels(path: Path) -> dict[str, str | None]:
    if not path.exists():
        raise InputError(str(path), None, "labels file not found")
    lines = decode_lines(path)
    if not any(ln.strip() for ln in lines):
        raise InputError(str(path), None, "empty labels file")
    if path.suffix.lower() == ".json" or lines[0].lstrip().startswith("{"):
        try:
            obj = json.loads("\n".join(lines))
        except json.JSONDecodeError as e:
            raise InputError(str(path), e.lineno, f"not valid JSON: {e.msg}") from None
        if not isinstance(obj, dict) or not all(isinstance(k, str) and k.strip() for k in obj):
            raise InputError(str(path), 1, 'expected an object {"Label": "description", ...}')
        for k, v in obj.items():
            if v is not None and not isinstance(v, str):
                raise InputError(str(path), 1, f"description of {k!r} must be a string")
        return {k.strip(): v for k, v in obj.items()}
    out: dict[str, str | None] = {}
    for ln, raw in enumerate(lines, start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        name, _, desc = raw.partition("\t")
        name = name.strip()
        if not name:
            raise InputError(str(path), ln, "missing label name")
        if name in out:
            raise InputError(str(path), ln, f"label {name!r} listed twice")
        out[name] = desc.strip() or None
    return out
