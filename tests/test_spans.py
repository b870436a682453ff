"""One reading of spans and CoNLL lines (allabel/formats/spans.py) for ingest, annotation import and
export: the same bad input gives the same error (file, line, reason) through ingest and import,
and what export writes reads back to the same spans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from allabel.annotate.importer import validate
from allabel.core.errors import InputError
from allabel.formats.annotations import RunSentence, parse
from allabel.formats.corpus import parse_file
from allabel.formats.spans import SpanError, check_spans, iob_decode, iob_encode, read_conll, tokens_of

TEXT = "Aspirin causes liver damage"
RUN = {1: RunSentence(TEXT, None, None)}
LABELS = {"Chemical", "Disease"}


def _both_conll(path: Path, body: str) -> tuple[InputError, InputError]:
    """The error of the same CoNLL file read by ingest and by import (sentence 1 of a run)."""
    path.write_text("# sentence_id = 1\n" + body)
    with pytest.raises(InputError) as by_ingest:
        parse_file(path, "conll")
    with pytest.raises(InputError) as by_import:
        parse(path, "conll", RUN, [])
    return by_ingest.value, by_import.value


@pytest.mark.parametrize("body,line,reason", [
    ("Aspirin\tB-Chemical\ncauses\nliver\tO\ndamage\tO\n", 3,
     "malformed line 'causes': expected 'token<TAB>tag'"),
    ("Aspirin\tO\ncauses\tI-Chemical\nliver\tO\ndamage\tO\n", 3,
     "invalid IOB2: I-Chemical follows O (must follow B-Chemical or I-Chemical)"),
    ("Aspirin\tB-Chemical\ncauses\tI-Disease\nliver\tO\ndamage\tO\n", 3,
     "invalid IOB2: I-Disease follows B-Chemical (must follow B-Disease or I-Disease)"),
    ("Aspirin\tB-\ncauses\tO\nliver\tO\ndamage\tO\n", 2,
     "malformed tag 'B-' (expected O, B-X or I-X)"),
    ("Aspirin\tO\ncauses\tO\nliver\tB-Disease\ndamage\tx-Disease\n", 5,
     "malformed tag 'x-Disease' (expected O, B-X or I-X)"),
])
def test_bad_conll_same_error_through_ingest_and_import(tmp_path, body, line, reason):
    a, b = _both_conll(tmp_path / "bad.conll", body)
    assert (a.path, a.line, a.reason) == (b.path, b.line, b.reason) == (str(tmp_path / "bad.conll"), line, reason)
    assert str(a) == str(b) == f"{tmp_path / 'bad.conll'}:{line}: {reason}"


@pytest.mark.parametrize("entity,reason", [
    ({"start": 0, "end": 99, "label": "Chemical"}, "span [0, 99) lies outside the text (length 27)"),
    ({"start": 5, "end": 0, "label": "Chemical"}, "span [5, 0) lies outside the text (length 27)"),
    ({"start": 0, "end": 7, "label": "Chemical", "text": "aspirin"},
     "span [0, 7) is 'Aspirin' but the entity says 'aspirin'"),
])
def test_bad_span_same_error_through_ingest_and_import(tmp_path, entity, reason):
    """A JSONL line with a bad span: ingest (new sentence) and import (an annotation of sentence
    1) report the same line and reason."""
    good = {"start": 15, "end": 27, "label": "Disease", "text": "liver damage"}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"sentence_id": 1, "text": TEXT, "entities": [good]}) + "\n"
                    + json.dumps({"sentence_id": 1, "text": TEXT, "entities": [good, entity]}) + "\n")
    with pytest.raises(InputError) as by_ingest:
        parse_file(path, "jsonl")
    _fmt, items = parse(path, "jsonl", RUN, [])
    with pytest.raises(InputError) as by_import:
        validate(items[1:], RUN, LABELS, 7, str(path), by_line=True)
    a, b = by_ingest.value, by_import.value
    assert (a.path, a.line, a.reason) == (b.path, b.line, b.reason) == (str(path), 2, reason)


def test_duplicate_span_same_reason_everywhere():
    spans = [(0, 7, "Chemical", None), (0, 7, "Chemical", "Aspirin")]
    with pytest.raises(SpanError, match=r"^duplicate span \[0, 7\) Chemical$"):
        check_spans(TEXT, spans)
    check_spans(TEXT, [(0, 7, "Chemical", None), (0, 7, "Disease", None)])  # another label: fine
    with pytest.raises(SpanError, match=r"^unknown label 'Gene' \(known: Chemical, Disease\)$"):
        check_spans(TEXT, [(0, 7, "Gene", None)], LABELS)


def test_conll_tolerance():
    """The one documented tolerance: tab columns (a token may hold a space), whitespace columns
    without a tab (first = token, last = tag), comments before a sentence (one after tokens ends
    it), -DOCSTART- documents, '#<TAB>O' is a token."""
    lines = [
        "-DOCSTART- -X- O O",
        "",
        "# sentence_id = 4",
        "New York\tNNP\tB-LOC",
        "is VBZ B-VP O",
        "#\tO",
        "# doc_id = d7",
        "Paris\tB-LOC",
        "",
        "-DOCSTART-",
        "x\tO",
    ]
    got = list(read_conll("f", lines))
    assert [s.tokens for s in got] == [["New York", "is", "#"], ["Paris"], ["x"]]
    assert [s.line for s in got] == [3, 7, 11]
    assert [s.doc_id for s in got] == ["doc1", "d7", "doc2"]
    assert got[0].comments == {"sentence_id": (3, "4")}
    assert got[0].token_spans("f") == [(0, 0, "LOC")]
    with pytest.raises(InputError, match=r"^f:2: malformed line ' \\tO'"):
        list(read_conll("f", ["a\tO", " \tO"]))


def test_export_encoding_reads_back_to_the_same_spans():
    """iob_encode (export) then read_conll + iob_decode (ingest, import): the spans that fit come
    back exactly; the ones IOB2 cannot hold are reported, not dropped silently."""
    toks = tokens_of(TEXT, None, None)
    spans = [{"start": 0, "end": 7, "label": "Chemical", "text": "Aspirin"},
             {"start": 15, "end": 27, "label": "Disease", "text": "liver damage"},
             {"start": 21, "end": 27, "label": "Disease", "text": "damage"},   # nested
             {"start": 1, "end": 7, "label": "Chemical", "text": "spirin"}]    # sub-token
    tags, skipped = iob_encode(toks, spans)
    assert sorted(r for _, r in skipped) == ["nested", "sub-token"]
    (sent,) = read_conll("f", [f"{t}\t{g}" for (t, _), g in zip(toks, tags, strict=True)])
    back = [(toks[a][1], toks[b][1] + len(toks[b][0]), lab) for a, b, lab in sent.token_spans("f")]
    assert back == [(0, 7, "Chemical"), (15, 27, "Disease")]
    assert iob_decode("f", [(1, "B-X"), (2, "B-X"), (3, "I-X")]) == [(0, 0, "X"), (1, 2, "X")]


@pytest.mark.parametrize("line,reason", [
    ('{"sentence_id": 1, "text": "%s", "entities": [{"start": "0", "end": 7, "label": "Chemical"}]}',
     'entity 0: "start" and "end" must be integers'),
    ('{"sentence_id": 1, "text": "%s", "entities": [{"start": 0, "end": 7}]}', 'entity 0: missing "label"'),
    ('{"sentence_id": 1, "text": "%s", "entities": {"start": 0}}', '"entities" must be a list'),
    ('{"sentence_id": 1, "text": "%s", "entities": [], oops}', "not valid JSON: Expecting property name "
                                                                "enclosed in double quotes at column 75"),
    ('[1, 2]', "expected a JSON object"),
])
def test_bad_jsonl_same_error_through_ingest_and_import(tmp_path, line, reason):
    path = tmp_path / "bad.jsonl"
    first = json.dumps({"sentence_id": 1, "text": TEXT, "entities": []})  # import wants them said
    path.write_text(first + "\n" + line.replace("%s", TEXT) + "\n")
    with pytest.raises(InputError) as by_ingest:
        parse_file(path, "jsonl")
    with pytest.raises(InputError) as by_import:
        parse(path, "jsonl", RUN, [])
    a, b = by_ingest.value, by_import.value
    assert (a.path, a.line, a.reason) == (b.path, b.line, b.reason) == (str(path), 2, reason)
