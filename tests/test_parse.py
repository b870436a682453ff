"""Parsing LLM answers back to exact character spans: every awkward case, and nothing raises."""

from __future__ import annotations

import math

import pytest

from allabel.predict.parse import parse_answer, perplexity, token_confidence
from allabel.predict.prompt import Demo, build_messages, format_answer

LABELS = ["Chemical", "Disease"]


@pytest.fixture(autouse=True)
def json_by_default(monkeypatch):
    """The JSON cases below parse without naming the format; the lines cases name theirs."""
    from allabel.core.config import get_settings

    monkeypatch.setenv("ALLABEL_PROMPT_FORMAT", "json")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def spans(p):
    return [(e.start, e.end, e.label, e.text) for e in p.entities]


def test_plain_json_ok():
    s = "Aspirin causes Reye syndrome ."
    p = parse_answer('[{"text": "Aspirin", "label": "Chemical"}, '
                     '{"text": "Reye syndrome", "label": "Disease"}]', s, LABELS)
    assert p.status == "ok"
    assert spans(p) == [(0, 7, "Chemical", "Aspirin"), (15, 28, "Disease", "Reye syndrome")]


def test_repeated_mention_labels_every_occurrence():
    s = "cocaine use and cocaine abuse"
    p = parse_answer('[{"text": "cocaine", "label": "Chemical"}]', s, LABELS)
    assert [(e.start, e.end) for e in p.entities] == [(0, 7), (16, 23)]


def test_substring_of_longer_mention_is_not_doubled():
    s = "lithium carbonate and lithium salts"
    p = parse_answer('[{"text": "lithium carbonate", "label": "Chemical"}, '
                     '{"text": "lithium", "label": "Chemical"}]', s, LABELS)
    # the short mention survives where it stands alone, not inside the long one
    assert spans(p) == [(0, 17, "Chemical", "lithium carbonate"), (22, 29, "Chemical", "lithium")]


def test_word_boundaries():
    s = "ACEI and ACE inhibitors"
    p = parse_answer('[{"text": "ACE", "label": "Chemical"}]', s, LABELS)
    assert spans(p) == [(9, 12, "Chemical", "ACE")]


def test_case_and_whitespace_differences():
    s = "Parkinson ' s disease after L - DOPA"
    p = parse_answer('[{"text": "parkinson\'s disease", "label": "disease"}, '
                     '{"text": "L-DOPA", "label": "CHEMICAL"}]', s, LABELS)
    assert spans(p) == [(0, 21, "Disease", "Parkinson ' s disease"),
                        (28, 36, "Chemical", "L - DOPA")]


def test_unicode_offsets():
    s = "Café 🧪 naïve Müller-syndrome"
    p = parse_answer('[{"text": "Müller-syndrome", "label": "Disease"}]', s, LABELS)
    (e,) = p.entities
    assert s[e.start:e.end] == "Müller-syndrome" and e.start == 13


def test_label_outside_schema_and_missing_mention_are_dropped():
    s = "Aspirin helps"
    p = parse_answer('[{"text": "Aspirin", "label": "Gene"}, {"text": "Tylenol", "label": '
                     '"Chemical"}, {"text": "Aspirin", "label": "Chemical"}]', s, LABELS)
    assert p.status == "partial" and spans(p) == [(0, 7, "Chemical", "Aspirin")]
    assert any("Gene" in d for d in p.dropped) and any("Tylenol" in d for d in p.dropped)


def test_truncated_answer_keeps_complete_objects():
    s = "Aspirin causes Reye syndrome ."
    p = parse_answer('[{"text": "Aspirin", "label": "Chemical"}, {"text": "Reye syn', s, LABELS)
    assert p.status == "partial" and spans(p) == [(0, 7, "Chemical", "Aspirin")]


@pytest.mark.parametrize("answer", ["I cannot help with that.", "", "[{", "{]", "null",
                                    '[{"text": 5, "label": null}]', "```json\n[oops\n```"])
def test_garbage_never_raises(answer):
    p = parse_answer(answer, "Aspirin helps", LABELS)
    assert p.status in {"unparseable", "partial"} and p.entities == []


def test_empty_list_is_ok_and_fenced_json():
    assert parse_answer("[]", "Nothing here", LABELS).status == "ok"
    p = parse_answer('Sure!\n```json\n[{"text": "Aspirin", "label": "Chemical"}]\n```',
                     "Aspirin helps", LABELS)
    assert spans(p) == [(0, 7, "Chemical", "Aspirin")]


def test_perplexity_and_confidence():
    assert perplexity(None) is None and perplexity([]) is None
    assert math.isclose(perplexity([math.log(0.5), math.log(0.5)]), 2.0)
    answer = '[{"text": "Aspirin", "label": "Chemical"}]'
    toks = ['[{"text": "', "Asp", "irin", '", "label": "Chemical"}]']
    lps = [0.0, math.log(0.25), math.log(0.25), 0.0]
    a = answer.index("Aspirin")
    assert math.isclose(token_confidence(answer, toks, lps, a, a + 7), 0.25)
    p = parse_answer(answer, "Aspirin helps", LABELS, toks, lps)
    assert math.isclose(p.entities[0].confidence, 0.25)


def test_prompt_demos_use_the_answer_format():
    demo = Demo("Aspirin causes Reye syndrome .", [(15, 28, "Disease", "Reye syndrome"),
                                                     (0, 7, "Chemical", "Aspirin")])
    msgs = build_messages({"Chemical": "drugs", "Disease": None}, [demo], "Target sentence .")
    assert "Chemical: drugs" in msgs[0]["content"] and "- Disease" in msgs[0]["content"]
    assert msgs[2]["content"] == format_answer(demo.entities)
    assert msgs[2]["content"].index("Aspirin") < msgs[2]["content"].index("Reye")
    parsed = parse_answer(msgs[2]["content"], demo.text, LABELS)  # round trip
    assert sorted(spans(parsed)) == sorted((s, e, lab, t) for s, e, lab, t in demo.entities)
    assert msgs[-1] == {"role": "user", "content": "Sentence: Target sentence ."}


def test_lines_format_round_trip_and_confidence():
    demo = Demo("Aspirin causes Reye syndrome .", [(15, 28, "Disease", "Reye syndrome"),
                                                     (0, 7, "Chemical", "Aspirin")])
    answer = format_answer(demo.entities, "lines")
    assert answer == "Chemical: Aspirin\nDisease: Reye syndrome"
    msgs = build_messages({"Chemical": None, "Disease": None}, [demo], "Target .", "lines")
    assert msgs[2]["content"] == answer and "colon" in msgs[0]["content"]
    p = parse_answer(answer, demo.text, LABELS, fmt="lines")
    assert p.status == "ok" and sorted(spans(p)) == sorted(demo.entities)
    toks = ["Chemical", ":", " Asp", "irin", "\n", "Disease", ":", " Reye", " syndrome"]
    lps = [0.0, 0.0, math.log(0.5), math.log(0.5), 0.0, 0.0, 0.0, 0.0, math.log(0.25)]
    p = parse_answer("".join(toks), demo.text, LABELS, toks, lps, fmt="lines")
    conf = {e.text: e.confidence for e in p.entities}
    assert math.isclose(conf["Aspirin"], 0.5) and math.isclose(conf["Reye syndrome"], 0.5)


def test_lines_format_none_junk_and_unknown_labels():
    s = "Aspirin causes Reye syndrome ."
    assert parse_answer("none", s, LABELS, fmt="lines").status == "ok"
    assert parse_answer("None.", s, LABELS, fmt="lines").entities == []
    p = parse_answer("Chemical: Aspirin\nthis is chatter\nGene: Reye", s, LABELS, fmt="lines")
    assert p.status == "partial" and spans(p) == [(0, 7, "Chemical", "Aspirin")] and len(p.dropped) == 2
    assert parse_answer("I cannot help with that", s, LABELS, fmt="lines").status == "unparseable"
    assert parse_answer("", s, LABELS, fmt="lines").status == "unparseable"
    assert format_answer([], "lines") == "none"


def test_auto_format_follows_the_backend(monkeypatch):
    from allabel.core.config import get_settings
    from allabel.predict.prompt import answer_format, prompt_version

    monkeypatch.setenv("ALLABEL_PROMPT_FORMAT", "auto")
    get_settings.cache_clear()
    assert answer_format() == "lines" and prompt_version() == "ner-lines-v1"
    monkeypatch.setenv("ALLABEL_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    get_settings.cache_clear()
    assert answer_format() == "json" and prompt_version() == "ner-json-v1"
