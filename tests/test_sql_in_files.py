"""Every SQL statement the product runs lives in ``sql/`` (issue 14): no literal SQL string is
handed to a driver in ``allabel/``, outside the query loader. Read with ``ast`` so a comment or a
docstring that mentions ``execute("...")`` is not a finding, and an f-string or a concatenation
is."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from allabel.store.sqlfiles import _NAME, SQL_DIR, queries

PKG = Path(__file__).resolve().parent.parent / "allabel"
LOADER = PKG / "sqlfiles.py"
DRIVER_CALLS = {"execute", "executemany", "copy", "SQL"}  # SQL: psycopg.sql.SQL("...") templates


def _is_literal(node: ast.AST) -> bool:
    """A string written in the source: a constant, an f-string, or a concatenation of them."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_literal(node.left) or _is_literal(node.right)
    return False


def literal_sql_calls(source: str, filename: str = "<src>") -> list[str]:
    """``file:line call`` for each driver call whose first argument is a literal string."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if name in DRIVER_CALLS and _is_literal(node.args[0]):
            found.append(f"{filename}:{node.lineno} {name}(...)")
    return found


def test_the_scanner_finds_literal_sql():
    """The scanner itself can fail: each spelling of a literal statement is caught."""
    src = '\n'.join([
        'conn.execute("SELECT 1")',
        'cur.executemany(f"INSERT INTO t VALUES ({x})", rows)',
        'cur.copy("COPY t FROM STDIN" + suffix)',
        'sql.SQL("ALTER ROLE x PASSWORD {}")',
        'conn.execute(Q.find, {"id": 1})',  # a named query: fine
        'conn.execute(statement)',  # a variable (allabel sql): fine
    ])
    assert [f.split()[0] for f in literal_sql_calls(src)] == ["<src>:1", "<src>:2", "<src>:3", "<src>:4"]


def test_no_literal_sql_outside_the_loader():
    found = []
    for path in sorted(PKG.rglob("*.py")):
        if path != LOADER:
            found += literal_sql_calls(path.read_text(encoding="utf-8"), str(path.relative_to(PKG.parent)))
    assert found == [], "SQL written in Python; move it to allabel/sql/queries/<module>.sql:\n" + "\n".join(found)


@pytest.mark.parametrize("path", sorted((SQL_DIR / "queries").glob("*.sql")), ids=lambda p: p.name)
def test_every_query_file_loads_with_named_blocks(path: Path):
    """Each file of sql/queries parses into at least one non-empty named block."""
    q = queries(path.stem)
    names = _NAME.findall(path.read_text(encoding="utf-8"))
    assert names, f"{path.name} has no '-- name:' block"
    assert all(getattr(q, n).strip() for n in names)


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
