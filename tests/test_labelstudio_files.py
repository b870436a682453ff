"""Label Studio by files: the labeling config written with the export; import ignores other
controls with a warning, reads the JSON and the JSON-MIN export, takes the annotator from an
e-mail (never from a bare user id over --annotator), and is idempotent."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from allabel.annotate import import_file
from allabel.select.run import SelectParams, select
from tests.select_fixtures import small_corpus


@pytest.fixture()
def run_id(db_url, tmp_path):
    small_corpus(tmp_path, embed=False)
    return select(SelectParams("bc", "4", "random", seed=1), show_progress=False).run_id


def picks(conn, run_id):
    return conn.execute("SELECT s.id, s.text FROM selections x JOIN sentences s ON s.id = x.sentence_id "
                        "WHERE x.run_id = %s ORDER BY rank", (run_id,)).fetchall()


def first_word_result(text, from_name="label", label="Chemical"):
    w = text.split()[0]
    return {"from_name": from_name, "to_name": "text", "type": "labels",
            "value": {"start": 0, "end": len(w), "text": w, "labels": [label]}}


def annotations(conn):
    return conn.execute("SELECT a.sentence_id, a.annotator, count(e.id) FROM annotations a LEFT JOIN entities e "
                        "ON e.run_id = a.run_id AND e.sentence_id = a.sentence_id AND e.source = 'human' "
                        "GROUP BY 1, 2 ORDER BY 1").fetchall()


def test_export_writes_the_labeling_config(cli, conn, run_id, tmp_path):
    out = tmp_path / "todo.json"
    code, _, err = cli("export", str(run_id), "--format", "labelstudio", "--out", out)
    assert code == 0, err
    cfg = tmp_path / "todo.config.xml"
    assert f"labeling config: {cfg}" in err
    root = ET.fromstring(cfg.read_text())
    labels = root.find("Labels")
    assert labels.get("name") == "label" and labels.get("toName") == "text"
    assert root.find("Text").get("name") == "text" and root.find("Text").get("value") == "$text"
    db_labels = [r[0] for r in conn.execute("SELECT name FROM labels ORDER BY name")]
    assert [lab.get("value") for lab in labels.findall("Label")] == db_labels == ["Chemical", "Disease"]
    # every task's data carries what import needs, and the config names match the results
    tasks = json.loads(out.read_text())
    assert len(tasks) == 4 and all(isinstance(t["data"]["sentence_id"], int) for t in tasks)
    # --label-config puts it elsewhere; `allabel labelstudio config` prints the same
    code, _, err = cli("export", str(run_id), "--format", "labelstudio", "--out", out,
                       "--label-config", tmp_path / "c.xml")
    assert (tmp_path / "c.xml").read_text() == cfg.read_text()
    code, printed, _ = cli("labelstudio", "config", "--dataset", "bc")
    assert code == 0 and printed == cfg.read_text()


def test_unknown_controls_are_ignored_with_a_warning(cli, conn, run_id, tmp_path):
    (sid, text), (sid2, _) = picks(conn, run_id)[:2]
    tasks = [{"data": {"text": text, "sentence_id": sid}, "annotations": [{"completed_by": 3, "result": [
        first_word_result(text),
        {"from_name": "quality", "to_name": "text", "type": "choices", "value": {"choices": ["good"]}},
        {"from_name": "note", "to_name": "text", "type": "textarea", "value": {"text": ["hm"]}}]}]},
        {"data": {"sentence_id": sid2}, "annotations": [{"result": [
            {"from_name": "quality", "to_name": "text", "type": "choices", "value": {"choices": ["bad"]}}]}]}]
    f = tmp_path / "ls.json"
    f.write_text(json.dumps(tasks))
    code, out, err = cli("import", f, "--run", str(run_id), "--annotator", "kim")
    assert code == 0, err
    assert "imported annotations of 2 sentences" in out
    assert "warning:" in err and "quality (choices) x2" in err and "note (textarea) x1" in err
    assert annotations(conn) == sorted([(sid, "kim", 1), (sid2, "kim", 0)])


def test_json_min_export_is_accepted(conn, run_id, tmp_path):
    (sid, text), (sid2, text2) = picks(conn, run_id)[:2]
    w = text.split()[0]
    # as Label Studio 1.23 writes it (one record per annotation; a Choices control as a plain value)
    recs = [
        {"text": text, "sentence_id": sid, "id": 1, "label": [{"start": 0, "end": len(w), "text": w,
                                                               "labels": ["Disease"]}],
         "quality": "good", "annotator": 1, "annotation_id": 1, "created_at": "2026-11-25T15:09:27Z",
         "updated_at": "2026-11-25T15:09:27Z", "lead_time": None},
        {"text": text2, "sentence_id": sid2, "id": 2, "annotator": "ann@lab.org", "annotation_id": 2,
         "created_at": "2026-11-25T15:09:27Z", "updated_at": "2026-11-25T15:09:27Z", "lead_time": 3.5},
        # a second annotation of the first task: the last one wins
        {"text": text, "sentence_id": sid, "id": 1, "label": [{"start": 0, "end": len(w), "text": w,
                                                               "labels": ["Chemical"]}],
         "annotator": 1, "annotation_id": 3, "created_at": "2026-11-25T15:10:00Z",
         "updated_at": "2026-11-25T15:10:00Z", "lead_time": None},
    ]
    f = tmp_path / "min.json"
    f.write_text(json.dumps(recs))
    res = import_file(f, run_id, annotator="bob")
    assert (res.sentences, res.written) == (2, 2)
    assert any("quality x1" in w for w in res.warnings)
    assert annotations(conn) == sorted([(sid, "bob", 1), (sid2, "ann@lab.org", 0)])
    assert conn.execute("SELECT label FROM entities WHERE source = 'human'").fetchall() == [("Chemical",)]
    # importing the same file again writes nothing
    again = import_file(f, run_id, annotator="bob")
    assert (again.sentences, again.written) == (2, 0)


def test_json_min_without_sentence_id_is_a_clear_error(run_id, tmp_path):
    from allabel.core.errors import InputError

    f = tmp_path / "min.json"
    f.write_text(json.dumps([{"text": "x", "id": 1, "label": [], "annotator": 1}]))
    with pytest.raises(InputError, match="task 1: sentence_id missing"):
        import_file(f, run_id)


def test_completed_by_email_overrides_annotator_and_bare_id_does_not(conn, run_id, tmp_path):
    (sid, text), (sid2, text2), (sid3, _) = picks(conn, run_id)[:3]
    tasks = [{"data": {"sentence_id": sid}, "annotations": [{"completed_by": {"id": 1, "email": "eve@lab"},
                                                             "result": [first_word_result(text)]}]},
             {"data": {"sentence_id": sid2}, "annotations": [{"completed_by": 1, "result": []}]},
             {"data": {"sentence_id": sid3}, "annotations": [{"completed_by": "1", "result": []}]}]
    f = tmp_path / "ls.json"
    f.write_text(json.dumps(tasks))
    import_file(f, run_id, annotator="kim")
    assert dict((s, a) for s, a, _ in annotations(conn)) == {sid: "eve@lab", sid2: "kim", sid3: "kim"}
    import_file(f, run_id)
    assert dict((s, a) for s, a, _ in annotations(conn))[sid2] == "labelstudio-user:1"
