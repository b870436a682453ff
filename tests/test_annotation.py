"""The annotation round trip: export -> edit -> import in each format, pre-fill marking, and
malformed imports rejected with the database unchanged."""

from __future__ import annotations

import json

import pytest

from allabel.annotate import export_run, import_file
from allabel.core.errors import InputError
from allabel.select.run import SelectParams, select
from tests.select_fixtures import small_corpus


@pytest.fixture()
def run_id(db_url, tmp_path):
    small_corpus(tmp_path, embed=False)
    return select(SelectParams("bc", "4", "random", seed=1), show_progress=False).run_id


def snapshot(conn):
    return (conn.execute("SELECT count(*), coalesce(string_agg(annotator, ','), '') FROM annotations").fetchone(),
            conn.execute("SELECT count(*) FROM entities WHERE source = 'human'").fetchone()[0])


def export(run_id, fmt, path):
    with path.open("w") as f:
        return export_run(run_id, fmt, f)


def stored(conn, run_id):
    return conn.execute("SELECT sentence_id, start_char, end_char, label, text FROM entities "
                        "WHERE source='human' AND run_id = %s ORDER BY 1, 2", (run_id,)).fetchall()


def first_word(text):
    w = text.split()[0]
    return 0, len(w), w


def test_jsonl_round_trip(conn, run_id, tmp_path):
    f = tmp_path / "a.jsonl"
    assert export(run_id, "jsonl", f).sentences == 4
    items = [json.loads(x) for x in f.read_text().splitlines()]
    assert all(o["entities_source"] is None and o["entities"] == [] for o in items)
    for o in items:
        a, b, w = first_word(o["text"])
        o["entities"] = [{"start": a, "end": b, "label": "Disease", "text": w}]
    f.write_text("\n".join(json.dumps(o) for o in items))
    assert import_file(f, run_id, annotator="bob").sentences == 4
    got = stored(conn, run_id)
    assert len(got) == 4 and all(r[3] == "Disease" for r in got)
    assert conn.execute("SELECT count(*) FROM annotation_queue WHERE run_id=%s", (run_id,)).fetchone()[0] == 0
    assert conn.execute("SELECT DISTINCT annotator FROM annotations").fetchall() == [("bob",)]
    # importing again replaces, never duplicates
    assert import_file(f, run_id).sentences == 4 and len(stored(conn, run_id)) == 4


def test_labelstudio_round_trip_with_prefill(conn, run_id, tmp_path):
    # an LLM prediction exists for one selected sentence -> exported as a Label Studio prediction
    sid, text = conn.execute("SELECT s.id, s.text FROM selections x JOIN sentences s ON s.id = x.sentence_id "
                             "WHERE x.run_id = %s ORDER BY rank LIMIT 1", (run_id,)).fetchone()
    a, b, w = first_word(text)
    conn.execute("INSERT INTO runs (kind, dataset_id) SELECT 'prediction', dataset_id FROM runs WHERE id=%s",
                 (run_id,))
    pr = conn.execute("SELECT max(id) FROM runs").fetchone()[0]
    conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id, "
                 "model, confidence) VALUES (%s, %s, %s, 'Chemical', %s, 'llm', %s, 'm', 0.9)",
                 (sid, a, b, w, pr))
    conn.commit()
    f = tmp_path / "ls.json"
    export(run_id, "labelstudio", f)
    tasks = json.loads(f.read_text())
    pre = [t for t in tasks if t.get("predictions")]
    assert len(pre) == 1 and pre[0]["data"]["sentence_id"] == sid
    assert pre[0]["predictions"][0]["result"][0]["value"]["labels"] == ["Chemical"]
    # the person accepts the prediction for that task and annotates another with nothing
    pre[0]["annotations"] = [{"completed_by": {"email": "eve@lab"},
                              "result": pre[0]["predictions"][0]["result"]}]
    other = next(t for t in tasks if not t.get("predictions"))
    other["annotations"] = [{"completed_by": 7, "result": []}]
    f.write_text(json.dumps(tasks))
    assert import_file(f, run_id).sentences == 2
    assert stored(conn, run_id) == [(sid, a, b, "Chemical", w)]
    who = dict(conn.execute("SELECT sentence_id, annotator FROM annotations").fetchall())
    # an e-mail names the annotator; a bare Label Studio user id does not say who outside it
    assert who[sid] == "eve@lab" and who[other["data"]["sentence_id"]] == "labelstudio-user:7"


def test_conll_round_trip(conn, run_id, tmp_path):
    f = tmp_path / "a.conll"
    export(run_id, "conll", f)
    out = []
    first = True
    for line in f.read_text().splitlines():
        if line and not line.startswith("#") and first:
            tok, _ = line.split("\t")
            line = f"{tok}\tB-Chemical"
            first = False
        if not line:
            first = True
        out.append(line)
    f.write_text("\n".join(out) + "\n")
    assert import_file(f, run_id).sentences == 4
    got = stored(conn, run_id)
    assert len(got) == 4
    for sid, a, b, label, text in got:
        s = conn.execute("SELECT text FROM sentences WHERE id=%s", (sid,)).fetchone()[0]
        assert (a, s[a:b], label) == (0, text, "Chemical") and text == s.split()[0]


@pytest.mark.parametrize("mutate,reason", [
    (lambda o: o["entities"].append({"start": 0, "end": 3, "label": "Gene"}), "unknown label 'Gene'"),
    (lambda o: o["entities"].append({"start": 0, "end": 999, "label": "Chemical"}), "outside the text"),
    (lambda o: o["entities"].append({"start": 0, "end": 2, "label": "Chemical", "text": "zz"}),
     "the entity says 'zz'"),
    (lambda o: o.update(sentence_id=999999), "not selected in run"),
    (lambda o: o.update(text="something else"), "differs from the stored text"),
])
def test_malformed_import_rejected_database_unchanged(conn, run_id, tmp_path, mutate, reason):
    f = tmp_path / "a.jsonl"
    export(run_id, "jsonl", f)
    items = [json.loads(x) for x in f.read_text().splitlines()]
    a, b, w = first_word(items[0]["text"])
    items[0]["entities"] = [{"start": a, "end": b, "label": "Chemical", "text": w}]
    f.write_text("\n".join(json.dumps(o) for o in items) + "\n")
    import_file(f, run_id)  # a good first import
    before = snapshot(conn)
    mutate(items[2])
    f.write_text("\n".join(json.dumps(o) for o in items) + "\n")
    with pytest.raises(InputError, match=reason) as e:
        import_file(f, run_id)
    assert e.value.line == 3
    assert snapshot(conn) == before


def test_bad_json_and_bad_iob(conn, run_id, tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('{"sentence_id": 1, "entities": []}\n{oops\n')
    with pytest.raises(InputError, match="x.jsonl:2: not valid JSON"):
        import_file(f, run_id)
    g = tmp_path / "x.conll"
    export(run_id, "conll", g)
    lines = g.read_text().splitlines()
    lines[2] = lines[2].split("\t")[0] + "\tI-Chemical"
    g.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="invalid IOB2"):
        import_file(g, run_id)
    assert snapshot(conn) == ((0, ""), 0)
