"""Every SQL statement the product runs lives in ``sql/`` (issue 14), and every statement a script
runs in ``scripts/sql/`` (issue 31): no literal SQL string is handed to a driver in ``allabel/``
or ``scripts/``, outside the query loader, and no string written in the Python reads like a
statement (an SQL verb at its start), so a statement kept in a constant is found too. Read with
``ast`` so a comment or a docstring that mentions ``execute("...")`` is not a finding, and an
f-string or a concatenation is. The scripts also read rows by name only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from allabel.store.sqlfiles import _NAME, SQL_DIR, named_queries, queries

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "allabel"
SCRIPTS = ROOT / "scripts"
SCRIPT_SQL = SCRIPTS / "sql"
LOADER = PKG / "store" / "sqlfiles.py"
DRIVER_CALLS = {"execute", "executemany", "copy", "SQL"}  # SQL: psycopg.sql.SQL("...") templates
FETCHES = {"fetchone", "fetchall", "fetchmany"}
# A string that starts like a statement (upper-case verb, then a space): what SQL in Python looks
# like, and what no message, format name or label of allabel starts with.
SQL_TEXT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP|COPY|EXPLAIN|VACUUM"
                      r"|ANALYZE|TRUNCATE|SET|RESET|GRANT|REVOKE)\s")


def script_files() -> list[Path]:
    """The Python of scripts/: every ``.py`` file and every extension-less file whose first line
    is a Python shebang (``scripts/install_qwen``); shell scripts (``setup``, ``cron/``) are not."""
    found = []
    for path in sorted(SCRIPTS.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        if path.suffix == ".py":
            found.append(path)
        elif not path.suffix:
            first = path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
            if first.startswith("#!") and "python" in first:
                found.append(path)
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, kinds) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}


def _is_literal(node: ast.AST) -> bool:
    """A string written in the source: a constant, an f-string, or a concatenation of them."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_literal(node.left) or _is_literal(node.right)
    return False


def _called(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def literal_sql_calls(source: str, filename: str = "<src>") -> list[str]:
    """``file:line call`` for each driver call whose first argument is a literal string, and
    ``file:line "SELECT ..."`` for each string (not a docstring) that starts like a statement."""
    found: dict[int, str] = {}  # by line: a literal call and the statement in it are one finding
    tree = ast.parse(source, filename)
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if _called(node) in DRIVER_CALLS and node.args and _is_literal(node.args[0]):
            found[node.lineno] = f"{_called(node)}(...)"
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)
              and id(node) not in docstrings):
            text = node.value.decode("utf-8", "replace") if isinstance(node.value, bytes) else node.value
            if SQL_TEXT.match(text):
                found.setdefault(node.lineno, repr(text.strip()[:40]))
    return [f"{filename}:{line} {what}" for line, what in sorted(found.items())]


def positional_row_reads(source: str, filename: str = "<src>") -> list[str]:
    """``file:line`` of each place a script could read a row by position: a driver's ``fetch*``
    call anywhere but ``len(cursor.fetchall())`` (counting, not reading), or the result of an
    ``execute`` used otherwise than discarded, counted (``.rowcount``) or so counted. Rows are
    read through ``db.rows``/``db.one``/``db.scalar`` (or a ``dict_row`` cursor) instead."""
    tree = ast.parse(source, filename)
    parent = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def counted(fetch: ast.Call) -> bool:
        return _called(fetch) == "fetchall" and _called(parent.get(fetch)) == "len"

    found = []
    for node in ast.walk(tree):
        name = _called(node)
        if name in FETCHES and not counted(node):
            found.append(f"{filename}:{node.lineno} {name}()")
        elif name == "execute":
            up = parent.get(node)
            if isinstance(up, ast.Expr):
                continue
            if isinstance(up, ast.Attribute) and up.attr == "rowcount":
                continue
            if isinstance(up, ast.Attribute) and isinstance(parent.get(up), ast.Call) \
                    and _called(parent[up]) in FETCHES:
                continue  # the fetch itself is judged above
            found.append(f"{filename}:{node.lineno} execute(...) result used")
    return sorted(found, key=lambda f: int(f.split()[0].rsplit(":", 1)[1]))


def test_the_scanner_finds_literal_sql():
    """The scanner itself can fail: each spelling of a literal statement is caught."""
    src = '\n'.join([
        'conn.execute("SELECT 1")',
        'cur.executemany(f"INSERT INTO t VALUES ({x})", rows)',
        'cur.copy("COPY t FROM STDIN" + suffix)',
        'sql.SQL("ALTER ROLE x PASSWORD {}")',
        'conn.execute(Q.find, {"id": 1})',  # a named query: fine
        'conn.execute(statement)',  # a variable (allabel sql): fine
        'COUNT = "SELECT count(*) FROM t"',  # a statement kept in a constant
        'PLAN = b"EXPLAIN (ANALYZE) " + q',
        'print("Selected 3 sentences; SELECT them with care")',  # prose: fine
    ])
    assert [f.split()[0] for f in literal_sql_calls(src)] == ["<src>:1", "<src>:2", "<src>:3", "<src>:4",
                                                               "<src>:7", "<src>:8"]


def test_the_row_scanner_finds_positional_reads():
    src = "\n".join([
        "n = conn.execute(q).fetchone()[0]",
        "ids = [r[0] for r in conn.execute(q, p)]",
        "labels = dict(conn.execute(q, p))",
        "rows = cur.fetchall()",
        "conn.execute(q, p)",  # run, nothing read: fine
        "n = conn.execute(q, p).rowcount",  # counted: fine
        "n = len(conn.execute(q, p).fetchall())",  # counted: fine
        "n = db.scalar(conn, q, p)",  # by name: fine
    ])
    assert [f.split()[0] for f in positional_row_reads(src)] == ["<src>:1", "<src>:2", "<src>:3", "<src>:4"]


def test_the_scripts_are_found():
    names = {p.relative_to(SCRIPTS).as_posix() for p in script_files()}
    assert {"benchlib.py", "bench_evaluate.py", "diagnose_experiment.py", "install_qwen"} <= names
    assert not names & {"setup", "cron/allabel-job"}  # shell


def test_no_literal_sql_outside_the_loader():
    found = []
    for path in sorted(PKG.rglob("*.py")):
        if path != LOADER:
            found += literal_sql_calls(path.read_text(encoding="utf-8"), str(path.relative_to(PKG.parent)))
    assert found == [], "SQL written in Python; move it to allabel/sql/queries/<module>.sql:\n" + "\n".join(found)


def test_no_literal_sql_in_the_scripts():
    found = []
    for path in script_files():
        found += literal_sql_calls(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == [], "SQL written in a script; move it to scripts/sql/<script>.sql:\n" + "\n".join(found)


def test_the_scripts_read_rows_by_name():
    found = []
    for path in script_files():
        found += positional_row_reads(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == [], "rows read by position in a script; use db.rows/db.one/db.scalar:\n" + "\n".join(found)


@pytest.mark.parametrize("path", sorted(p for p in (SQL_DIR / "queries").iterdir() if p.name.endswith(".sql")),
                         ids=lambda p: p.name)
def test_every_query_file_loads_with_named_blocks(path):
    """Each file of sql/queries parses into at least one non-empty named block."""
    q = queries(path.name.removesuffix(".sql"))
    names = _NAME.findall(path.read_text(encoding="utf-8"))
    assert names, f"{path.name} has no '-- name:' block"
    assert all(getattr(q, n).strip() for n in names)


@pytest.mark.parametrize("path", sorted(SCRIPT_SQL.glob("*.sql")), ids=lambda p: p.name)
def test_every_script_query_file_loads_with_named_blocks(path):
    """Each file of scripts/sql parses (through the package's own parser) into non-empty named
    blocks, and nothing stands before the first block but comments."""
    text = path.read_text(encoding="utf-8")
    names = _NAME.findall(text)
    assert names, f"{path.name} has no '-- name:' block"
    assert len(names) == len(set(names)), f"{path.name} names a block twice"
    q = named_queries(path)
    assert q.names() == names and all(getattr(q, n).strip() for n in names)
    head = _NAME.split(text)[0]
    assert all(not line.strip() or line.startswith("--") for line in head.splitlines())


def _script_query_uses(path: Path) -> tuple[str | None, set[str]]:
    """The scripts/sql file a script loads (``X = script_queries("name")``) and the names it reads
    from it (``X.name``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and _called(node.value) == "script_queries"
                and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            var, file = node.targets[0].id, node.value.args[0].value
            used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                    and isinstance(n.value, ast.Name) and n.value.id == var}
            return file, used
    return None, set()


def test_the_scripts_use_their_query_files_exactly():
    """Every query a script asks for is in its file, and every block of scripts/sql is used."""
    used: dict[str, set[str]] = {}
    for path in script_files():
        file, names = _script_query_uses(path)
        if file is not None:
            used.setdefault(file, set()).update(names)
    files = {p.stem for p in SCRIPT_SQL.glob("*.sql")}
    assert set(used) == files, "a scripts/sql file no script loads, or a script loading a missing file"
    for file, names in used.items():
        have = set(named_queries(SCRIPT_SQL / f"{file}.sql").names())
        assert names - {"names"} <= have, f"scripts/sql/{file}.sql lacks {sorted(names - have - {'names'})}"
        assert have <= names, f"scripts/sql/{file}.sql has blocks no script runs: {sorted(have - names)}"


def test_the_cli_queries_nothing_itself():
    """allabel/cli/ parses arguments, calls library functions and prints: no driver call and no
    named query of its own (issue 14: the database is behind the library)."""
    found = []
    for path in sorted((PKG / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            f = node.func if isinstance(node, ast.Call) else None
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name in DRIVER_CALLS | {"queries", "fetchone", "fetchall"}:
                found.append(f"{path.relative_to(PKG.parent)}:{node.lineno} {name}(...)")
    assert found == [], "\n".join(found)
