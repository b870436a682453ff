"""docs/architecture.md is the newcomer's map, and it must be true:

* every file and SQL file it names exists, and every module and SQL file of the package is on it
  (a moved or new file fails here until the map is redrawn);
* every signature it cites (`allabel.x.y.f(a, b=None) -> T`) has the parameters of the code;
* every table it says a step writes is created by the current schema.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "allabel"
DOC = (ROOT / "docs" / "architecture.md").read_text()
TABLE = "\n".join(line for line in DOC.splitlines() if line.startswith("| "))


def test_every_named_path_exists():
    named = set(re.findall(r"`((?:allabel|scripts|tests|data|docs)/[\w/.*<>-]+)`", DOC))
    assert len(named) > 30  # the map names the modules, not nothing
    missing = []
    for name in named:
        if any(c in name for c in "*<>"):  # a pattern (allabel/sql/queries/<module>.sql)
            if not list(ROOT.glob(re.sub(r"<\w+>", "*", name))):
                missing.append(name)
        elif not (ROOT / name).exists():
            missing.append(name)
    assert missing == [], f"docs/architecture.md names files that do not exist: {sorted(missing)}"


def _on_map(path: Path) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    if f"`{rel}`" in DOC or rel in TABLE:
        return True
    folder = path.parent.relative_to(ROOT).as_posix()
    return any(folder in line and f"`{path.name}`" in line or f"{path.stem}" in line.split("`")[1::2]
               for line in TABLE.splitlines() if folder + "/" in line)


def test_every_module_and_sql_file_is_on_the_map():
    """Each module of allabel/ (not Alembic's revisions) and each SQL file of allabel/sql/ appears
    on the map, by its path or, inside a row that names its folder, by its file name."""
    off = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).parts
        if path.name == "__init__.py" or "versions" in rel or "__pycache__" in rel:
            continue
        if not _on_map(path):
            off.append(path.relative_to(ROOT).as_posix())
    for path in sorted((PKG / "sql").rglob("*.sql")):
        if "migrations" in path.relative_to(PKG / "sql").parts:
            continue  # the deltas: the map names their folder
        if not _on_map(path):
            off.append(path.relative_to(ROOT).as_posix())
    assert off == [], f"not on docs/architecture.md: {off}"


SIGNATURE = re.compile(r"`(allabel(?:\.\w+)+)\(([^`]*?)\)(?: -> [^`]*)?`")


def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _cited_names(args: str) -> list[str]:
    names = []
    for part in re.split(r",\s*(?![^()\[\]]*[)\]])", args):
        part = part.strip()
        if not part or part in ("...", "*"):
            continue
        names.append(re.split(r"[=:\s]", part.lstrip("*"), maxsplit=1)[0])
    return names


def test_cited_signatures_match_the_code():
    cited = SIGNATURE.findall(DOC)
    assert len(cited) >= 10, "the contracts section cites the signatures"
    wrong = []
    for dotted, args in cited:
        obj = _resolve(dotted)
        target = obj.__init__ if inspect.isclass(obj) and not _cited_names(args) == [] else obj
        params = [p for p in inspect.signature(target).parameters if p not in ("self", "cls")]
        names = _cited_names(args)
        if names != params[:len(names)] or any(
                inspect.signature(target).parameters[p].default is inspect.Parameter.empty
                for p in params[len(names):]):
            wrong.append(f"{dotted}({args}) but the code has ({', '.join(params)})")
    assert wrong == [], "docs/architecture.md cites signatures the code does not have:\n" + "\n".join(wrong)


def test_tables_written_exist_in_the_schema():
    schema = "\n".join(p.read_text() for p in (PKG / "sql" / "schema").glob("*.sql"))
    created = set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", schema))
    rows = [line.split("|") for line in TABLE.splitlines() if line.count("|") >= 5][2:]
    named = {t for row in rows for t in re.findall(r"`(\w+)`", row[-2])} - {"alembic_version"}
    assert len(named) > 10, "the map's 'tables written' column is empty"
    assert named <= created, f"tables on the map but not in allabel/sql/schema/: {sorted(named - created)}"
