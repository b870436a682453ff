"""``pip install allabel`` gives a working tool: the wheel carries its SQL and migrations.

The wheel is built from this checkout (no build isolation: offline, with the setuptools of the
test environment) and installed without dependencies into a fresh virtual environment that
borrows the test environment's dependencies through a ``.pth`` file (so nothing is downloaded).
Run from a directory outside the checkout, the installed ``allabel`` must create a database,
ingest, embed, select and predict: every SQL file it needs comes from the installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, fresh_empty_db

TINY = """Heparin\tB-Chemical
caused\tO
bleeding\tB-Disease
.\tO

Aspirin\tB-Chemical
relieved\tO
headache\tB-Disease
.\tO

Warfarin\tB-Chemical
induced\tO
necrosis\tB-Disease
.\tO

Cisplatin\tB-Chemical
caused\tO
nephrotoxicity\tB-Disease
.\tO
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", ".allabel", "build", "*.egg-info", "data", "__pycache__", ".*_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(src)], check=True, capture_output=True, text=True, cwd=out)
    (whl,) = out.glob("allabel-*.whl")
    return whl


def test_the_wheel_holds_the_sql_and_the_migrations(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    sql = REPO / "allabel" / "sql"
    for path in sql.rglob("*.sql"):
        assert f"allabel/sql/{path.relative_to(sql).as_posix()}" in names
    assert "allabel/store/migrations/env.py" in names
    revisions = sorted((REPO / "allabel/store/migrations/versions").glob("*.py"))
    assert revisions and all(f"allabel/store/migrations/versions/{p.name}" in names for p in revisions)
    assert not any(n.startswith(("sql/", "migrations/", "tests/")) for n in names)


def test_an_installed_wheel_runs_the_pipeline_outside_the_checkout(wheel: Path, pg_server: str,
                                                                   tmp_path: Path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    # the test environment's dependencies, without its editable allabel (a .pth line adds the
    # directory to sys.path; the .pth files inside it, the editable finder among them, do not run)
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True, text=True,
                   env={**os.environ, "PYTHONPATH": sysconfig.get_path("purelib")})
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "tiny.tsv").write_text(TINY)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ALLABEL_DATA")}
    env.update(DATABASE_URL=fresh_empty_db(pg_server), ALLABEL_HOME=str(work / "home"))
    exe = str(env_dir / "bin" / "allabel")

    def run(*args: str) -> str:
        res = subprocess.run([exe, *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, f"allabel {' '.join(args)}: {res.stderr[-2000:]}"
        return res.stdout

    where = subprocess.run([str(py), "-c", "import allabel, sys; print(allabel.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(site)), where  # the wheel's copy, not the checkout's
    run("init")
    run("ingest", "tiny.tsv", "--dataset", "tiny", "--split", "train")
    shutil.copy(work / "tiny.tsv", work / "tiny-test.tsv")
    run("ingest", "tiny-test.tsv", "--dataset", "tiny", "--split", "test")
    run("embed", "--dataset", "tiny")
    out = run("select", "--dataset", "tiny", "--budget", "2", "--strategy", "random", "--oracle")
    assert "done" in out
    run("predict", "--dataset", "tiny", "--split", "test", "--demos", "split:train", "--k", "1",
        "--limit", "1")
    assert "1" in run("sql", "SELECT count(*) FROM allabel.predictions WHERE status = 'done'")
