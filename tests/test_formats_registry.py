"""The one registry of text formats: each name means the same format for ingest, import and
export, and a direction a format does not support is one clear error naming those that do."""

from __future__ import annotations

import pytest

from allabel.core.errors import ConfigError
from allabel.formats import registry
from allabel.formats.corpus import detect_format


def test_each_format_does_what_the_registry_says():
    can = {f.name: (f.read_corpus is not None, f.read_annotations is not None, f.writer is not None)
           for f in registry.FORMATS.values()}
    assert can == {"conll": (True, True, True), "jsonl": (True, True, True),
                   "labelstudio": (False, True, True), "text": (True, False, False)}
    for f in registry.FORMATS.values():  # every extension of a format is detected as it
        for ext in f.extensions:
            assert detect_format(__import__("pathlib").Path(f"x{ext}"), None) == f.name


def test_an_unsupported_direction_is_one_clear_error(cli, tmp_path):
    with pytest.raises(ConfigError, match="conll, jsonl, labelstudio"):
        registry.writer("text")
    with pytest.raises(ConfigError, match="import format 'text'"):
        registry.import_reader("text")
    code, _, err = cli("export", "--dataset", "nope", "--source", "gold", "--format", "text")
    assert code == 3 and "unknown export format 'text'" in err, err
