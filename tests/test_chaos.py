"""Chaos: `allabel predict` (one or two worker processes) SIGKILLed at random points, 20 rounds
with a fixed seed; then one run to the end. The result is exactly the rows of a clean run and no
run is left `running` without a live holder after any round.

And hostile annotation files: every malformed Label Studio / JSON-MIN / JSONL import is refused
whole (exit 2, file and task named) and changes nothing — above all, never erases an annotation.
The outage beyond the retry budget is in tests/test_faults.py (it needs a server it can kill)."""

from __future__ import annotations

import json
import os
import random
import signal
import time

import psutil

from tests.cli_jobs import PREDICT, assert_exactly_once, conn_fetch, fake_llm_with_toy_corpus, kill_group, run, start

N = 40
ROUNDS = 20
SEED = 16


def test_random_sigkills_end_with_exact_rows_and_no_stale_run(conn, monkeypatch, tmp_path):
    rng = random.Random(SEED)
    with fake_llm_with_toy_corpus(monkeypatch, tmp_path, N, delay=0.05) as fake:
        finished_rounds = 0
        for _ in range(ROUNDS):
            workers = rng.choice(["1", "2"])
            p = start([*PREDICT, "--workers", workers], quiet=True, own_group=True)
            time.sleep(rng.uniform(0.3, 3.0))
            victims = [p.pid] + [c.pid for c in psutil.Process(p.pid).children(recursive=True)
                                 if "python" in c.name()] if p.poll() is None else []
            if victims:
                os.kill(rng.choice(victims), signal.SIGKILL)
                time.sleep(rng.uniform(0.0, 0.5))
                kill_group(p)  # then the rest of the job (orphaned pool workers included)
            else:
                finished_rounds += 1
            p.wait(timeout=60)
            r = run(["runs", "--json"], timeout=60)
            assert r.returncode == 0, r.stderr
            states = [x["status"] for x in json.loads(r.stdout or "[]")]
            assert "running" not in states  # no live holder -> not running
        r = run(PREDICT, timeout=180)
        assert r.returncode == 0, r.stderr
        assert_exactly_once(conn_fetch(conn), N)
        assert conn.execute("SELECT status FROM runs").fetchall() == [("done",)]
        # a request can be asked again only when its asker was killed before storing the answer
        assert len(fake.requests) <= N + 2 * ROUNDS
        assert finished_rounds < ROUNDS  # the kills did land mid-run


# --- malformed annotation files: refused whole, naming file and task; nothing changes ---------

def _one_annotated_sentence(conn, tmp_path):
    """A selection run of 4 sentences whose first one has one human entity (its first word)."""
    from allabel.annotate import import_file
    from allabel.select.params import SelectParams
    from allabel.select.run import select
    from tests.select_fixtures import small_corpus

    small_corpus(tmp_path, embed=False)
    run = select(SelectParams("bc", "4", "random", seed=1), show_progress=False).run_id
    sid, text = conn.execute("SELECT s.id, s.text FROM selections x JOIN sentences s ON "
                             "s.id = x.sentence_id WHERE x.run_id = %s ORDER BY rank LIMIT 1",
                             (run,)).fetchone()
    w = text.split()[0]
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"data": {"text": text, "sentence_id": sid}, "annotations": [
        {"result": [{"from_name": "label", "to_name": "text", "type": "labels",
                     "value": {"start": 0, "end": len(w), "text": w, "labels": ["Chemical"]}}]}]}]))
    assert import_file(good, run, annotator="kim").written == 1
    conn.commit()
    return run, sid, text


def _annotation_state(conn) -> list[tuple]:
    rows = conn.execute("SELECT 'a', sentence_id, annotator, annotated_at::text, '', 0 FROM annotations "
                        "UNION ALL SELECT 'e', sentence_id, label, text, source, start_char "
                        "FROM entities WHERE source = 'human' ORDER BY 1, 2, 3").fetchall()
    conn.commit()
    return rows


MALFORMED_IMPORTS = {
    "label_not_a_list": (lambda sid, text: [{"id": 1, "text": text, "sentence_id": sid,
                                             "label": "notalist", "annotation_id": 9}],
                         "task 1: 'label' must be a list of spans"),
    "label_list_of_strings": (lambda sid, text: [{"id": 1, "text": text, "sentence_id": sid,
                                                  "label": ["Chemical"]}],
                              "task 1: 'label' must be a list of spans"),
    "no_result": (lambda sid, text: [{"data": {"text": text, "sentence_id": sid},
                                      "annotations": [{"completed_by": 1}]}],
                  'task 1: annotation without a "result" list (missing)'),
    "result_null": (lambda sid, text: [{"data": {"text": text, "sentence_id": sid},
                                        "annotations": [{"result": None}]}],
                    'task 1: annotation without a "result" list (null)'),
    "annotations_object": (lambda sid, text: [{"data": {"text": text, "sentence_id": sid},
                                               "annotations": {"result": []}}],
                           'task 1: "annotations" must be a list, not dict'),
    "json_string": (lambda sid, text: "hello", "the file holds a JSON str"),
    "json_number": (lambda sid, text: 42, "the file holds a JSON int"),
}


def test_malformed_imports_are_refused_and_change_nothing(conn, db_url, cli, tmp_path):
    """Each malformed Label Studio / JSON-MIN / JSONL file: exit 2, one line naming the file and
    the task (or line), the database exactly as before (the annotated sentence keeps its entity).
    An empty annotation is stored only when the file says so: "result": [] or "label": []."""
    run, sid, text = _one_annotated_sentence(conn, tmp_path)
    before = _annotation_state(conn)
    assert [r for r in before if r[0] == "e"] and len(before) == 2
    cases = {name: (json.dumps(make(sid, text)), reason)
             for name, (make, reason) in MALFORMED_IMPORTS.items()}
    cases["jsonl_without_entities"] = (json.dumps({"sentence_id": sid, "text": text}) + "\n",
                                       '1: "entities" missing: give a list ([] for none)')
    cases["jsonl_entities_null"] = (json.dumps({"sentence_id": sid, "entities": None}) + "\n",
                                    '1: "entities" missing: give a list ([] for none)')
    for name, (content, reason) in cases.items():
        f = tmp_path / f"{name}.json"
        f.write_text(content)
        code, out, err = cli("import", f, "--run", str(run))
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (name, code, out, err)
        assert lines[0].startswith(f"error: {f}:") and reason in lines[0], (name, err)
        assert _annotation_state(conn) == before, name
    # explicit empty annotations are stored as such
    for empty in ([{"data": {"sentence_id": sid}, "annotations": [{"result": []}]}],
                  [{"sentence_id": sid, "text": text, "label": []}]):
        f = tmp_path / "empty.json"
        f.write_text(json.dumps(empty))
        code, out, err = cli("import", f, "--run", str(run), "--annotator", "kim")
        assert code == 0 and "1 new or changed" in out, err
        assert [r for r in _annotation_state(conn) if r[0] == "e"] == []
        cli("import", tmp_path / "good.json", "--run", str(run), "--annotator", "kim")
    # a JSON-MIN record of a task nobody annotated (no span key, no annotation_id) erases nothing
    f = tmp_path / "unannotated.json"
    f.write_text(json.dumps([{"id": 1, "text": text, "sentence_id": sid, "quality": "good"}]))
    code, out, err = cli("import", f, "--run", str(run))
    assert code == 0 and "imported annotations of 0 sentences" in out, err
    assert [r for r in _annotation_state(conn) if r[0] == "e"] == [r for r in before if r[0] == "e"]
