"""Functions in allabel/ stay short enough to read in one screen (issue 14's rule: ~60 lines);
a longer one fails here with its file and name, so it is split while it is still fresh."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "allabel"
MAX_LINES = 60


def long_functions(root: Path, limit: int) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    out.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_no_function_over_sixty_lines():
    assert long_functions(PACKAGE, MAX_LINES) == []


def test_the_check_sees_a_long_function(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n" + "    x = 1\n" * MAX_LINES)
    assert long_functions(tmp_path, MAX_LINES) == [f"{tmp_path.name}/m.py:1 f ({MAX_LINES + 1} lines)"]
