"""The corpora ship with the repository (data/, CC BY 4.0) and are found without any folder
beside the checkout: the checkout's data/ by default, ALLABEL_DATA or --data otherwise, and a
one-line usage error (exit 3) when allabel is installed outside a checkout with neither."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys

import pytest

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError
from allabel.experiments.corpora import corpus, data_dir
from tests.conftest import DATA, REPO


def test_corpora_match_the_checksums_and_carry_attribution():
    readme = (DATA / "README.md").read_text()
    sums = re.findall(r"^([0-9a-f]{64})  (\S+\.tsv)$", readme, re.M)
    assert len(sums) == 9
    for digest, rel in sums:
        assert hashlib.sha256((DATA / rel).read_bytes()).hexdigest() == digest, rel
    assert "CC BY 4.0" in readme and "Crichton" in readme
    assert "Attribution 4.0 International Public License" in (DATA / "LICENSE").read_text()
    # the entity counts of the README's table
    assert (DATA / "bc5cdr" / "train.tsv").read_text().count("\tB-") == 9385


def test_default_is_the_checkout_and_the_setting_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv("ALLABEL_DATA", raising=False)
    get_settings.cache_clear()
    assert data_dir() == DATA.resolve()
    assert corpus("bc5cdr") == DATA.resolve() / "bc5cdr"
    (tmp_path / "bc5cdr").mkdir()
    monkeypatch.setenv("ALLABEL_DATA", str(tmp_path))
    get_settings.cache_clear()
    assert corpus("bc5cdr") == tmp_path.resolve() / "bc5cdr"
    with pytest.raises(ConfigError, match="no 'ncbi-disease' corpus"):
        corpus("ncbi-disease")
    monkeypatch.setenv("ALLABEL_DATA", str(tmp_path / "missing"))
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="is not a folder"):
        data_dir()
    get_settings.cache_clear()


def test_nothing_in_the_repository_refers_to_a_folder_beside_it():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    needle = "../" + "shared"  # spelled in two parts so this file does not match itself
    hits = [f for f in tracked.stdout.split()
            if not f.startswith("data/") and needle in (REPO / f).read_text(errors="replace")]
    assert hits == []


def test_installed_package_outside_a_checkout_says_how_to_find_the_data(tmp_path):
    """A copy of the package without the checkout around it (no pyproject.toml, no data/; the
    package carries its SQL and migrations inside): no default data folder."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "allabel", site / "allabel", ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ALLABEL_DATA", "ALLABEL_DATA_DIR")}
    env["PYTHONPATH"] = str(site)
    r = subprocess.run([sys.executable, "-c", "import allabel, sys; print(allabel.__file__); "
                        "from allabel.cli import main; main(['demo'])"],
                       cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert r.stdout.strip().startswith(str(site)), r.stdout
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: no corpus folder: allabel is not running from a source checkout; "
        "set ALLABEL_DATA to a folder holding bc5cdr/ or pass --data PATH"]
    # --data pointing at a folder that does not exist: one line, exit 3, before any database work
    r = subprocess.run([sys.executable, "-m", "allabel.cli", "demo", "--data", str(tmp_path / "nope")],
                       cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and "no such file or folder" in r.stderr
    assert not (work / ".allabel").exists()


def test_the_sparse_corpus_rebuilds_from_bc5cdr_and_is_sparse():
    """data/bc5cdr-chem-sparse is exactly what scripts/build_sparse_corpus.py makes from
    data/bc5cdr (deterministic), and it is what it claims: chemicals only, ~81% empty."""
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "build_sparse_corpus.py"), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    train = (DATA / "bc5cdr-chem-sparse" / "train.tsv").read_text()
    assert "-Disease" not in train
    blocks = [b for b in train.split("\n\n") if b.strip()]
    empty = sum("\tB-Chemical" not in b for b in blocks)
    assert 0.78 < empty / len(blocks) < 0.84
    assert "bc5cdr-chem-sparse" in corpus("bc5cdr-chem-sparse").name
