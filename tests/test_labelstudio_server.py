"""allabel labelstudio push / pull against a real Label Studio server (started once per session
from .venv-labelstudio, see conftest.labelstudio): project with our labeling config, tasks with
LLM pre-annotations, annotations made through the API pulled into the run; push and pull are
idempotent; Label Studio's own JSON-MIN export of the project imports the same annotations."""

from __future__ import annotations

import json

import httpx

from allabel.annotate import import_file
from allabel.core.config import get_settings
from allabel.select.params import SelectParams
from allabel.select.run import select
from tests.labelstudio_server import LS_USER
from tests.select_fixtures import small_corpus


def test_push_pull_round_trip(cli, conn, tmp_path, ls_env):
    ls = ls_env
    small_corpus(tmp_path, embed=False)
    run = select(SelectParams("bc", "4", "random", seed=3), show_progress=False).run_id
    picks = conn.execute("SELECT s.id, s.text FROM selections x JOIN sentences s ON s.id = x.sentence_id "
                         "WHERE x.run_id = %s ORDER BY rank", (run,)).fetchall()
    # an LLM prediction for the first pick: it must arrive as a pre-annotation
    (sa, ta), (sb, _) = picks[0], picks[1]
    w = ta.split()[0]
    pred = conn.execute("INSERT INTO runs (kind, dataset_id, status) SELECT 'prediction', dataset_id, 'done' "
                        "FROM runs WHERE id = %s RETURNING id", (run,)).fetchone()[0]
    conn.execute("INSERT INTO predictions (run_id, sentence_id, status) VALUES (%s, %s, 'done')", (pred, sa))
    conn.execute("INSERT INTO entities (sentence_id, start_char, end_char, label, text, source, run_id, model, "
                 "confidence) VALUES (%s, 0, %s, 'Chemical', %s, 'llm', %s, 'm', 0.7)", (sa, len(w), w, pred))
    conn.commit()

    code, out, err = cli("labelstudio", "push", str(run))
    assert code == 0, err
    assert "created: 4 tasks added, 0 already there" in out
    pid = conn.execute("SELECT project_id FROM labelstudio_projects WHERE run_id = %s", (run,)).fetchone()[0]
    project = ls.projects.get(id=pid)
    assert project.title == f"allabel run {run}: bc"
    assert '<Label value="Disease"' in project.label_config and 'name="label"' in project.label_config
    tasks = {t.data["sentence_id"]: t for t in ls.tasks.list(project=project.id, fields="all")}
    assert set(tasks) == {s for s, _ in picks}
    (p,) = tasks[sa].predictions
    pr = p.result if hasattr(p, "result") else p["result"]
    assert pr[0]["value"] == {"start": 0, "end": len(w), "text": w, "labels": ["Chemical"]}
    assert not tasks[sb].predictions

    # pushing again adds nothing
    code, out, _ = cli("labelstudio", "push", str(run))
    assert code == 0 and "found: 0 tasks added, 4 already there" in out
    assert len(list(ls.tasks.list(project=project.id))) == 4

    # a person accepts the prediction on the first task and marks nothing on the second
    ls.annotations.create(id=tasks[sa].id, result=pr)
    ls.annotations.create(id=tasks[sb].id, result=[])
    code, out, err = cli("labelstudio", "pull", str(run), "--annotator", "ignored-when-email-known")
    assert code == 0, err
    assert "pulled annotations of 2 sentences" in out and "(2 new or changed)" in out
    rows = conn.execute("SELECT sentence_id, annotator, annotated_at FROM annotations WHERE run_id = %s "
                        "ORDER BY 1", (run,)).fetchall()
    assert [(s, a) for s, a, _ in rows] == sorted([(sa, LS_USER), (sb, LS_USER)])
    human = conn.execute("SELECT sentence_id, start_char, end_char, label FROM entities WHERE source = 'human' "
                         "AND run_id = %s", (run,)).fetchall()
    assert human == [(sa, 0, len(w), "Chemical")]

    # pulling again changes nothing
    code, out, _ = cli("labelstudio", "pull", str(run))
    assert code == 0 and "(0 new or changed)" in out
    assert conn.execute("SELECT sentence_id, annotator, annotated_at FROM annotations WHERE run_id = %s "
                        "ORDER BY 1", (run,)).fetchall() == rows

    # Label Studio's own exports of the project (JSON and JSON-MIN) import to the same result
    url, token = get_settings().labelstudio_url, get_settings().labelstudio_api_key.get_secret_value()
    for kind in ("JSON", "JSON_MIN"):
        r = httpx.get(f"{url}/api/projects/{project.id}/export", params={"exportType": kind},
                      headers={"Authorization": f"Token {token}"}, timeout=60)
        r.raise_for_status()
        f = tmp_path / f"{kind}.json"
        f.write_text(json.dumps(r.json()))
        res = import_file(f, run, annotator=LS_USER)
        assert (res.sentences, res.written) == (2, 0), kind
    assert conn.execute("SELECT count(*) FROM entities WHERE source = 'human' AND run_id = %s",
                        (run,)).fetchone()[0] == 1


def test_pull_without_project_and_unconfigured(cli, conn, tmp_path, ls_env, monkeypatch):
    # run 1 of this fresh database: another database's run 1 may have a project on the same
    # server, which must not be taken for ours
    small_corpus(tmp_path, sizes=(("train", 10),), embed=False)
    run = select(SelectParams("bc", "2", "random", seed=1), show_progress=False).run_id
    code, _, err = cli("labelstudio", "pull", str(run))
    assert code == 3 and f"no project for run {run}" in err and f"allabel labelstudio push {run}" in err
    monkeypatch.setenv("ALLABEL_LABELSTUDIO_API_KEY", "wrong-token-123456")
    get_settings.cache_clear()
    code, _, err = cli("labelstudio", "push", str(run))
    assert code == 3 and err.startswith("error: Label Studio:") and len(err.splitlines()) == 1
    monkeypatch.delenv("ALLABEL_LABELSTUDIO_URL")
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    get_settings.cache_clear()
    code, _, err = cli("labelstudio", "push", str(run))
    assert code == 3 and "no Label Studio URL" in err
