"""docs/architecture.md is the newcomer's map: every module, SQL file and table it names must exist,
and every module of the package must be on it (a moved or new file makes this test fail until the
map is redrawn)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text()
TABLE = "\n".join(line for line in DOC.splitlines() if line.startswith("| "))


def test_every_named_path_exists():
    named = set(re.findall(r"`((?:allabel|sql|scripts|migrations)/[\w/.*<>-]+)`", DOC))
    assert len(named) > 15  # the map names the modules, not nothing
    missing = []
    for name in named:
        if any(c in name for c in "*<>"):  # a pattern (sql/0xx_*.sql): some file must match it
            if not list(ROOT.glob(name.replace("0xx", "0*").replace("<module>", "*"))):
                missing.append(name)
        elif not (ROOT / name).exists():
            missing.append(name)
    assert missing == [], f"docs/architecture.md names files that do not exist: {missing}"


def test_every_sql_query_file_and_package_module_is_on_the_map():
    """Each sql/queries file and each top-level module or package of allabel/ appears in the
    table, by its path or (inside a row that names its folder) by its file name."""
    for q in sorted((ROOT / "sql" / "queries").glob("*.sql")):
        assert q.name in TABLE, f"allabel/sql/queries/{q.name} is not on the map"
    for m in sorted((ROOT / "allabel").iterdir()):
        if m.name.startswith("_") or m.name == "__pycache__":
            continue
        assert f"allabel/{m.name}" in TABLE, f"allabel/{m.name} is not on the map"


def test_tables_written_exist_in_the_schema():
    schema = "\n".join(p.read_text() for p in (ROOT / "sql").glob("0*.sql"))
    created = set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", schema))
    rows = [line.split("|") for line in TABLE.splitlines()[2:]]
    named = {t for row in rows for t in re.findall(r"`(\w+)`", row[-2])} - {"alembic_version"}
    assert named, "the map's 'tables written' column is empty"
    assert named <= created, f"tables on the map but not in sql/: {sorted(named - created)}"
