"""The block reader of plain ``token<TAB>tag`` files (``read_plain_conll``, ingest's fast path)
gives exactly what the line reader (``read_conll``) gives: the same sentences, line numbers,
spans and errors; any file it does not take is left to the line reader."""

from __future__ import annotations

import random

import pytest

from allabel.core.errors import InputError
from allabel.formats.corpus import _sentence, decode_lines, parse_conll
from allabel.formats.spans import iob_decode, iob_decode_tags, read_conll, read_plain_conll
from tests.conftest import DATA


def line_reader(path, lines):
    return [_sentence(s.line, s.doc_id, s.tokens, s.token_spans(str(path)))
            for s in read_conll(str(path), lines)]


@pytest.mark.parametrize("path", sorted(DATA.glob("*/*.tsv")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_files_read_the_same_both_ways(path):
    lines = decode_lines(path)
    assert read_plain_conll(lines) is not None  # the shipped corpora are plain
    assert list(parse_conll(path, lines)) == line_reader(path, lines)


@pytest.mark.parametrize("text, plain", [
    ("a\tB-X\nb\tI-X\n\nc\tO\n", True),
    ("\n\na\tO\n\n\n\nb\tB-Y\nc\tO\n\n\n", True),      # blank runs before, between, after
    ("a b\tO\nc\tB-X\n", True),                        # a token with a space inside
    ("#\tO\nx\tO\n", True),                            # '#<TAB>O' is a token line
    ("a\tO\n \nb\tO\n", False),                        # whitespace-only line
    ("a \tO\n", False), ("a\t O\n", False), (" a\tO\n", False), ("a\tO \n", False),
    ("a\tNN\tO\n", False),                             # more columns
    ("a O\n", False),                                  # whitespace columns
    ("-DOCSTART-\tO\n\na\tO\n", False),
    ("# doc_id = 7\na\tO\n", False),
    ("a\u00a0\tO\n", False),                           # other whitespace that strip() removes
])
def test_edge_files(tmp_path, text, plain):
    f = tmp_path / "f.tsv"
    f.write_text(text)
    lines = decode_lines(f)
    assert (read_plain_conll(lines) is not None) == plain
    assert list(parse_conll(f, lines)) == line_reader(f, lines)


def test_bad_tags_give_the_line_readers_error(tmp_path):
    f = tmp_path / "f.tsv"
    f.write_text("a\tO\n\nb\tB-X\nc\tO\nd\tI-X\n")
    lines = decode_lines(f)
    assert read_plain_conll(lines) is not None
    errors = []
    for reader in (lambda: list(parse_conll(f, lines)), lambda: line_reader(f, lines)):
        with pytest.raises(InputError) as e:
            reader()
        errors.append(str(e.value))
    assert errors[0] == errors[1] and ":5:" in errors[0]


def test_sparse_tag_decoding_equals_iob_decode():
    rng = random.Random(0)
    seen_error = 0
    for _ in range(20_000):
        tags = [rng.choice(["O", "O", "B-X", "I-X", "B-Y", "I-Y", "X", "I-"]) for _ in range(rng.randint(1, 8))]
        got = []
        for decode, arg in ((iob_decode, list(zip(range(3, 3 + len(tags)), tags, strict=True))),
                            (lambda path, t: iob_decode_tags(path, 3, t), tags)):
            try:
                got.append(decode("f", arg))
            except InputError as e:
                got.append(str(e))
        assert got[0] == got[1], tags
        seen_error += isinstance(got[0], str)
    assert 1_000 < seen_error < 19_000
