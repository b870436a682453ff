"""The package's shape, read from its source with ``ast`` (nothing imported):

* no import circle among the modules of ``allabel/`` (module-level imports);
* no import inside a function, except one that defers a heavy optional dependency and says so
  on its line (``# deferred: ...``);
* the layers import downwards only: a lower layer never imports a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "allabel"

# bottom to top; a module may import its own layer and the layers below it
LAYERS = [
    ["allabel.core"],
    ["allabel.store"],
    ["allabel.formats", "allabel.llm"],
    ["allabel.ingest", "allabel.retrieval"],
    ["allabel.predict"],
    ["allabel.select", "allabel.annotate"],
    ["allabel.quality", "allabel.experiments"],  # quality without gold, and with it
    ["allabel.cli"],
]


def modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        if "migrations" in path.relative_to(PKG).parts:
            continue  # Alembic's env and revisions are loaded by Alembic, not imported
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = modules()


def _targets(node: ast.ImportFrom | ast.Import) -> list[str]:
    """The allabel modules an import statement loads (a name imported from a package counts as
    its submodule when there is one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("allabel")]
    if node.level or not node.module or not node.module.startswith("allabel"):
        return []
    subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES]
    # `from pkg import submodule` loads the submodule; the package itself only when a name is
    # taken from its __init__
    return subs if len(subs) == len(node.names) else [node.module, *subs]


def module_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:  # module level only (an `if TYPE_CHECKING:` block counts too)
        stmts = [node] + (list(ast.walk(node)) if isinstance(node, ast.If | ast.Try) else [])
        for n in stmts:
            if isinstance(n, ast.Import | ast.ImportFrom):
                found.update(t for t in _targets(n) if t in MODULES)
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the allabel modules it imports at module level. (A package's ``__init__``
    importing its own submodules is the usual shape and no circle: Python runs the package
    first, then the submodule it asks for.)"""
    return {m: module_imports(p) - {m} for m, p in MODULES.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(g.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if state.get(t) is None and (c := visit(t)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if state.get(m) is None and (c := visit(m)):
            return c
    return None


def test_no_import_circle():
    g = graph()
    assert sum(len(v) for v in g.values()) > 100  # the graph was read, not empty
    assert find_cycle(g) is None, f"import circle: {' -> '.join(find_cycle(g) or [])}"


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_inside_functions_only_defer_heavy_dependencies():
    found = []
    for path in MODULES.values():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for n in ast.walk(node):
                if isinstance(n, ast.Import | ast.ImportFrom) and "# deferred:" not in lines[n.lineno - 1]:
                    found.append(f"{path.relative_to(PKG.parent)}:{n.lineno}: {lines[n.lineno - 1].strip()}")
    assert found == [], "imports inside functions (move them to the top, or defer a heavy " \
                        "dependency with a '# deferred: why' comment):\n" + "\n".join(found)


def _layer(module: str) -> int | None:
    for i, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    return None


def test_layers_import_downwards_only():
    up = []
    for m, targets in graph().items():
        lm = _layer(m)
        for t in targets:
            lt = _layer(t)
            if lm is not None and lt is not None and lt > lm:
                up.append(f"{m} (layer {lm}) imports {t} (layer {lt})")
    assert up == [], "imports that run back up the layers:\n" + "\n".join(sorted(up))
