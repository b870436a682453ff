"""allabel export of gold, human and LLM entities of a dataset, split or run, in every registered
format; a correction that removed an LLM span is never exported; our CoNLL re-ingests; spans IOB2
cannot hold are counted and listed, never dropped silently."""

from __future__ import annotations

import io
import json

import pytest

from allabel.annotate import import_file
from allabel.annotate.exporter import FORMATS, export_entities, export_run
from allabel.core.errors import ConfigError
from allabel.formats.spans import iob_encode, tokens_of
from allabel.formats.writers import WRITERS
from allabel.ingest import ingest_path
from allabel.select.run import SelectParams, select
from tests.select_fixtures import small_corpus


def words(text, n):
    """(start, end, surface) of the n-th whitespace token."""
    (tok, start) = tokens_of(text, None, None)[n]
    return start, start + len(tok), tok


@pytest.fixture()
def world(conn, tmp_path):
    """A selection run of 4 sentences; an LLM prediction run on 2 of them (2 spans on the first);
    a person corrects the first: keeps one LLM span, deletes the other."""
    small_corpus(tmp_path, embed=False)
    run = select(SelectParams("bc", "4", "random", seed=1), show_progress=False).run_id
    picks = conn.execute("SELECT s.id, s.text FROM selections x JOIN sentences s ON s.id = x.sentence_id "
                         "WHERE x.run_id = %s ORDER BY rank", (run,)).fetchall()
    pred = conn.execute("INSERT INTO runs (kind, dataset_id, params, status) SELECT 'prediction', dataset_id, "
                        "'{\"split\": \"train\", \"model\": \"m1\"}', 'done' FROM runs WHERE id=%s RETURNING id",
                        (run,)).fetchone()[0]
    (sa, ta), (sb, tb) = picks[0], picks[1]
    keep, drop = words(ta, 0), words(ta, 1)
    other = words(tb, 0)
    for sid in (sa, sb):
        conn.execute("INSERT INTO predictions (run_id, sentence_id, status) VALUES (%s, %s, 'done')", (pred, sid))
    for sid, (a, b, w), lab in ((sa, keep, "Chemical"), (sa, drop, "Disease"), (sb, other, "Chemical")):
        conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id, model, "
                     "confidence) VALUES (%s, %s, %s, %s, %s, 'llm', %s, 'm1', 0.8)", (sid, a, b, lab, w, pred))
    conn.commit()
    corr = tmp_path / "corr.jsonl"
    corr.write_text(json.dumps({"sentence_id": sa, "entities": [
        {"start": keep[0], "end": keep[1], "label": "Chemical", "text": keep[2]}]}) + "\n")
    assert import_file(corr, run, annotator="ann").sentences == 1
    return {"run": run, "pred": pred, "sa": sa, "sb": sb, "keep": keep, "drop": drop, "picks": picks}


def jsonl(source, **kw):
    buf = io.StringIO()
    res = export_entities(source, "jsonl", buf, **kw)
    return res, [json.loads(x) for x in buf.getvalue().splitlines()]


def test_format_registry():
    assert set(FORMATS) == {"jsonl", "conll", "labelstudio"} and set(WRITERS) == set(FORMATS)
    with pytest.raises(ConfigError, match="unknown export format 'xml'"):
        export_entities("gold", "xml", io.StringIO(), dataset="bc")


def test_run_export_all_writes_the_correction_not_the_deleted_llm_span(world):
    buf = io.StringIO()
    export_run(world["run"], "jsonl", buf, include_annotated=True)
    by_sid = {o["sentence_id"]: o for o in map(json.loads, buf.getvalue().splitlines())}
    a = by_sid[world["sa"]]
    assert a["entities_source"] == "human" and a["annotator"] == "ann"
    assert [(e["start"], e["end"], e["label"]) for e in a["entities"]] == [world["keep"][:2] + ("Chemical",)]
    b = by_sid[world["sb"]]  # not annotated: the LLM pre-fill
    assert b["entities_source"] == "llm" and b["entities"][0]["label"] == "Chemical"
    assert len(by_sid) == 4
    # without --all: only what is still to annotate
    buf = io.StringIO()
    assert export_run(world["run"], "jsonl", buf).sentences == 3


def test_source_human_is_the_latest_annotation(conn, world, tmp_path):
    res, rows = jsonl("human", dataset="bc")
    assert [o["sentence_id"] for o in rows] == [world["sa"]] and res.entities == 1
    assert rows[0]["entities"] == [{"start": world["keep"][0], "end": world["keep"][1], "label": "Chemical",
                                    "text": world["keep"][2]}]
    # a later run annotates the same sentence again, with the other word as Disease
    run2 = select(SelectParams("bc", "100%", "random", seed=2), show_progress=False).run_id
    assert run2 != world["run"]
    d = world["drop"]
    f = tmp_path / "later.jsonl"
    f.write_text(json.dumps({"sentence_id": world["sa"], "entities": [
        {"start": d[0], "end": d[1], "label": "Disease"}]}) + "\n")
    import_file(f, run2, annotator="zoe")
    _, rows = jsonl("human", dataset="bc")
    assert [(o["annotator"], o["run_id"], [e["label"] for e in o["entities"]]) for o in rows] == \
        [("zoe", run2, ["Disease"])]
    # the first run's own annotation is still there when asked by run
    _, rows = jsonl("human", run_id=world["run"])
    assert [(o["annotator"], [e["label"] for e in o["entities"]]) for o in rows] == [("ann", ["Chemical"])]


def test_source_llm_and_gold(conn, world):
    res, rows = jsonl("llm", dataset="bc")
    assert {o["sentence_id"] for o in rows} == {world["sa"], world["sb"]} and res.entities == 3
    assert all(o["model"] == "m1" and o["run_id"] == world["pred"] for o in rows)
    assert all("confidence" in e for o in rows for e in o["entities"])
    # the same, by prediction run
    _, by_run = jsonl("llm", run_id=world["pred"])
    assert by_run == rows
    res, rows = jsonl("gold", dataset="bc", split="test")
    n_test, n_gold = conn.execute(
        "SELECT count(DISTINCT s.id), count(e.id) FROM sentences s LEFT JOIN entities e ON e.sentence_id = s.id "
        "AND e.source = 'gold' WHERE s.split = 'test'").fetchone()
    assert (res.sentences, res.entities, len(rows)) == (n_test, n_gold, n_test)
    assert {o["split"] for o in rows} == {"test"} and {o["entities_source"] for o in rows} == {"gold"}
    # gold of a selection run's picks, in rank order
    _, rows = jsonl("gold", run_id=world["run"])
    assert [o["sentence_id"] for o in rows] == [p[0] for p in world["picks"]]
    with pytest.raises(ConfigError, match="belongs to dataset 'bc'"):
        export_entities("gold", "jsonl", io.StringIO(), dataset="other", run_id=world["run"])


def test_labelstudio_and_conll_by_source(world):
    buf = io.StringIO()
    res = export_entities("llm", "labelstudio", buf, dataset="bc")
    tasks = json.loads(buf.getvalue())
    assert all(t["predictions"] and "annotations" not in t for t in tasks)
    assert res.label_config and '<Label value="Chemical"' in res.label_config
    buf = io.StringIO()
    export_entities("human", "labelstudio", buf, dataset="bc")
    (t,) = json.loads(buf.getvalue())
    assert t["data"]["sentence_id"] == world["sa"] and t["annotations"][0]["result"][0]["value"]["labels"] == \
        ["Chemical"] and "predictions" not in t
    buf = io.StringIO()
    export_entities("human", "conll", buf, dataset="bc")
    text = buf.getvalue()
    assert f"# sentence_id = {world['sa']}" in text and "# entities_source = human" in text
    assert f"{world['keep'][2]}\tB-Chemical" in text and "B-Disease" not in text


def test_cli_export_dataset(cli, world, tmp_path):
    out = tmp_path / "gold.json"
    code, _, err = cli("export", "--dataset", "bc", "--split", "devel", "--source", "gold",
                       "--format", "labelstudio", "--out", out)
    assert code == 0, err
    assert "exported 20 sentences" in err and "labeling config:" in err
    assert len(json.loads(out.read_text())) == 20
    assert (tmp_path / "gold.config.xml").read_text().startswith("<View>")
    code, _, err = cli("export", "--source", "human")
    assert code == 3 and "give a RUN or --dataset" in err
    code, _, err = cli("export", "--dataset", "bc")
    assert code == 3 and "--source" in err
    code, _, err = cli("export", "--dataset", "bc", "--source", "silver")
    assert code == 3 and "unknown source 'silver'" in err


# --- CoNLL: round trip and spans IOB2 cannot hold -------------------------------------------

def test_conll_export_reingests(conn, world, tmp_path, cli):
    f = tmp_path / "gold.conll"
    code, _, err = cli("export", "--dataset", "bc", "--source", "gold", "--format", "conll", "--out", f)
    assert code == 0 and "warning" not in err
    code, _, err = cli("ingest", f, "--dataset", "bc2", "--split", "all")
    assert code == 0, err

    def spans(ds):
        return conn.execute(
            "SELECT s.text, e.start_char, e.end_char, e.label FROM sentences s JOIN datasets d ON d.id = s.dataset_id "
            "LEFT JOIN entities e ON e.sentence_id = s.id AND e.source = 'gold' WHERE d.name = %s "
            "ORDER BY 1, 2, 3, 4", (ds,)).fetchall()

    assert spans("bc2") == spans("bc") and len(spans("bc")) > 80
    # the JSONL export is a corpus too
    j = tmp_path / "gold.jsonl"
    code, _, err = cli("export", "--dataset", "bc", "--source", "gold", "--format", "jsonl", "--out", j)
    code, _, err = cli("ingest", j, "--dataset", "bc3", "--split", "all")
    assert code == 0, err
    assert spans("bc3") == spans("bc")
    # and it re-imports as annotations of a run
    g = tmp_path / "run.conll"
    code, _, err = cli("export", str(world["run"]), "--source", "gold", "--format", "conll", "--out", g)
    assert code == 0
    code, out, err = cli("import", g, "--run", str(world["run"]))
    assert code == 0 and "imported annotations of 4 sentences" in out, err


NESTED = [
    # text, entities
    ("lung cancer cells grow", [(0, 11, "Disease"), (0, 4, "Chemical")]),          # nested
    ("aspirin-induced asthma", [(0, 7, "Chemical"), (0, 22, "Disease")]),         # sub-token + ok
    ("acute renal failure now", [(0, 11, "Disease"), (6, 19, "Disease")]),         # overlapping
    ("cisplatin toxicity", [(0, 9, "Chemical"), (0, 9, "Disease")]),               # same span, two labels
]


def test_unrepresentable_spans_counted_listed_and_reported(conn, cli, tmp_path):
    src = tmp_path / "nested.jsonl"
    src.write_text("".join(json.dumps({"text": t, "entities": [
        {"start": a, "end": b, "label": lab} for a, b, lab in ents]}) + "\n" for t, ents in NESTED))
    ingest_path(src, "nest", "train")
    buf = io.StringIO()
    res = export_entities("gold", "conll", buf, dataset="nest")
    assert res.entities == 8 and dict(res.skipped) == {"nested": 1, "sub-token": 1, "overlapping": 2}
    text = buf.getvalue()
    assert text.count("# skipped_span = ") == 4
    assert '# skipped_span = 0 4 Chemical nested: "lung"' in text
    assert '# skipped_span = 0 7 Chemical sub-token: "aspirin"' in text
    f = tmp_path / "n.conll"
    code, _, err = cli("export", "--dataset", "nest", "--source", "gold", "--format", "conll", "--out", f)
    assert code == 0
    assert "warning: 4 of 8 spans cannot be written in IOB2 (1 nested, 2 overlapping, 1 sub-token)" in err
    # the file (comments included) re-ingests with the spans IOB2 holds
    code, _, err = cli("ingest", f, "--dataset", "nest2", "--split", "train")
    assert code == 0, err
    assert conn.execute("SELECT count(*) FROM entities e JOIN sentences s ON s.id = e.sentence_id "
                        "JOIN datasets d ON d.id = s.dataset_id WHERE d.name = 'nest2'").fetchone()[0] == 4
    # JSONL keeps them all
    res = export_entities("gold", "jsonl", io.StringIO(), dataset="nest")
    assert res.entities == 8 and not res.skipped


def test_iob_encode_unit():
    toks = tokens_of("a b c d", None, None)
    tags, skipped = iob_encode(toks, [{"start": 0, "end": 3, "label": "X", "text": "a b"},
                                    {"start": 2, "end": 5, "label": "Y", "text": "b c"},
                                    {"start": 6, "end": 7, "label": "Z", "text": "d"}])
    assert tags == ["B-X", "I-X", "O", "B-Z"] and [r for _, r in skipped] == ["overlapping"]


def test_ingest_accepts_comment_lines_and_hash_tokens(conn, tmp_path):
    f = tmp_path / "c.conll"
    f.write_text("# sentence_id = 12\n# doc_id = PMID1\n#\tO\nx\tB-Chemical\n\n# foo = bar\ny\tO\n")
    ingest_path(f, "c", "train")
    rows = conn.execute("SELECT text, doc_id FROM sentences ORDER BY position").fetchall()
    assert rows == [("# x", "PMID1"), ("y", "PMID1")]
