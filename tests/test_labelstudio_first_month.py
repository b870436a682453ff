"""Label Studio for a team's first month (issue 32): `allabel labelstudio serve` starts the
Label Studio of .venv-labelstudio offline with a generated owner-only token, and push never
leaves a sentence that `allabel import` annotated as an open task (nobody annotates it twice);
pull keeps who made such an annotation and ends with a `next:` line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from allabel.annotate import import_file
from allabel.annotate import labelstudio_server as lss
from allabel.select.params import SelectParams
from allabel.select.run import select
from tests.conftest import REPO
from tests.select_fixtures import small_corpus


def _annotations_file(path, conn, sid: int, annotator: str) -> tuple[int, int, str]:
    """A JSONL annotation of sentence ``sid`` (its first token as a Chemical); returns the span."""
    text = conn.execute("SELECT text FROM sentences WHERE id = %s", (sid,)).fetchone()[0]
    w = text.split()[0]
    path.write_text(json.dumps({"sentence_id": sid, "annotator": annotator,
                                "entities": [{"start": 0, "end": len(w), "label": "Chemical"}]}) + "\n")
    return 0, len(w), "Chemical"


def _task_annotations(ls, project_id: int) -> dict[int, list]:
    out = {}
    for t in ls.tasks.list(project=project_id, fields="all"):
        out[t.data["sentence_id"]] = [a.result if hasattr(a, "result") else a["result"]
                                      for a in (t.annotations or [])]
    return out


def test_push_marks_imported_sentences_done_and_pull_keeps_their_annotator(cli, conn, tmp_path, ls_env):
    ls = ls_env
    small_corpus(tmp_path, embed=False)
    run = select(SelectParams("bc", "4", "random", seed=5), show_progress=False).run_id
    picks = [s for (s,) in conn.execute("SELECT sentence_id FROM selections WHERE run_id = %s ORDER BY rank",
                                        (run,))]
    a, b, c, d = picks
    # annotated by file before the first push: the task arrives done
    span_a = _annotations_file(tmp_path / "a.jsonl", conn, a, "ann@lab.org")
    assert import_file(tmp_path / "a.jsonl", run).written == 1
    code, out, err = cli("labelstudio", "push", str(run))
    assert code == 0, err
    assert "created: 4 tasks added (1 of them annotated already: added as done), 0 already there" in out
    pid = conn.execute("SELECT project_id FROM labelstudio_projects WHERE run_id = %s", (run,)).fetchone()[0]
    anns = _task_annotations(ls, pid)
    assert [len(anns[s]) for s in picks] == [1, 0, 0, 0]
    (res,) = anns[a][0]
    assert (res["value"]["start"], res["value"]["end"], res["value"]["labels"]) == (span_a[0], span_a[1], ["Chemical"])

    # annotated by file after the push: its open task is marked done by the next push
    _annotations_file(tmp_path / "b.jsonl", conn, b, "ann@lab.org")
    assert import_file(tmp_path / "b.jsonl", run).written == 1
    code, out, err = cli("labelstudio", "push", str(run))
    assert code == 0, err
    assert "found: 0 tasks added, 4 already there" in out
    assert "1 open tasks marked done: their sentences were annotated by allabel import" in out
    anns = _task_annotations(ls, pid)
    assert [len(anns[s]) for s in picks] == [1, 1, 0, 0]
    code, out, _ = cli("labelstudio", "push", str(run))  # again: nothing more to mark
    assert "marked done" not in out and [len(v) for v in _task_annotations(ls, pid).values()].count(1) == 2

    # pull: the two imported annotations come back unchanged, with their importer as annotator
    code, out, err = cli("labelstudio", "pull", str(run))
    assert code == 0, err
    assert "pulled annotations of 2 sentences" in out and "(0 new or changed)" in out
    assert out.splitlines()[-1] == (f"next: 2 of 4 sentences of run {run} still to annotate in Label "
                                    f"Studio; then allabel labelstudio pull {run} again")
    assert conn.execute("SELECT array_agg(DISTINCT annotator) FROM annotations WHERE run_id = %s",
                        (run,)).fetchone()[0] == ["ann@lab.org"]

    # the person annotates the two open tasks; the next pull says the selection can go on
    ids = {t.data["sentence_id"]: t.id for t in ls.tasks.list(project=pid, fields="all")}
    for s in (c, d):
        ls.annotations.create(id=ids[s], result=[])
    code, out, err = cli("labelstudio", "pull", str(run))
    assert code == 0, err
    assert "(2 new or changed)" in out
    assert out.splitlines()[-1] == f"next: every pick is annotated: allabel select --resume {run}"


def _read_until(proc: subprocess.Popen, marker: str, timeout: float) -> list[str]:
    lines, t0 = [], time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} from serve; stdout: {lines}; stderr: "
                         f"{proc.stderr.read() if proc.poll() is not None else '(running)'}")


def test_serve_starts_label_studio_offline_with_an_owner_only_token(tmp_path):
    home = tmp_path / "home"
    port = lss.free_port()
    # nothing of this process's settings may reach the server: no proxy, no Sentry, no key
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALLABEL_", "LABEL_STUDIO"))}
    env.update(PYTHONPATH=str(REPO), ALLABEL_HOME=str(home), SENTRY_DSN="https://key@sentry.invalid/1",
               HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    proc = subprocess.Popen([sys.executable, "-m", "allabel.cli", "labelstudio", "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        lines = _read_until(proc, "next:", 300)
        folder = home / "labelstudio"
        token = (folder / "token").read_text().strip()
        assert (folder / "token").stat().st_mode & 0o777 == 0o600
        assert (folder / "password").stat().st_mode & 0o777 == 0o600
        url = f"http://127.0.0.1:{port}"
        assert any(ln.startswith(f"Label Studio is up at {url}") for ln in lines)
        assert f"  export ALLABEL_LABELSTUDIO_URL={url} ALLABEL_LABELSTUDIO_API_KEY={token}" in lines
        assert len(token) == 40
        req = urllib.request.Request(f"{url}/api/projects", headers={"Authorization": f"Token {token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200 and "results" in json.loads(r.read())
        bad = urllib.request.Request(f"{url}/api/projects", headers={"Authorization": "Token wrong"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(bad, timeout=30)
        assert e.value.code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read()[-2000:]
    with pytest.raises(ConnectionRefusedError):  # the server went with it
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    # a later start reuses the token (the server's user already has it in the data folder)
    assert lss.credentials(home / "labelstudio").token == token
