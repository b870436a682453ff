"""Where the bundled gold corpora (``data/`` of the repository: BC5CDR, NCBI-disease, and the
sparse chemicals-only view of BC5CDR) are.

Why not a path relative to this file: an installed package has no ``data/`` beside it, and the old
lookup silently depended on a folder beside the repository that a fresh clone does not have. The rule is explicit
and has one place: the ``data_dir`` setting (``ALLABEL_DATA``) when set; otherwise the ``data/``
folder of the source checkout allabel is imported from, recognised by its ``pyproject.toml`` and
``data/README.md``; otherwise a usage error that says how to point allabel at the files.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError

#: the sparse one is a chemicals-only, mostly entity-free view of bc5cdr (scripts/build_sparse_corpus.py)
CORPORA = ("bc5cdr", "ncbi-disease", "bc5cdr-chem-sparse")


def checkout_data_dir() -> Path | None:
    """``data/`` of the source checkout holding the imported package, or None when installed."""
    pkg = files("allabel")
    if not isinstance(pkg, Path):  # zipped or otherwise not on a file system: not a checkout
        return None
    root = pkg.parent
    data = root / "data"
    if (root / "pyproject.toml").is_file() and (data / "README.md").is_file():
        return data
    return None


def data_dir() -> Path:
    """The folder holding ``bc5cdr/`` and ``ncbi-disease/`` (see the module docstring)."""
    configured = get_settings().data_dir
    if configured is not None:
        if not configured.is_dir():
            raise ConfigError(f"ALLABEL_DATA={configured} is not a folder")
        return configured.resolve()
    found = checkout_data_dir()
    if found is None:
        raise ConfigError("no corpus folder: allabel is not running from a source checkout; "
                          "set ALLABEL_DATA to a folder holding bc5cdr/ or pass --data PATH")
    return found


def corpus(name: str) -> Path:
    """The folder of one bundled corpus (``bc5cdr`` or ``ncbi-disease``)."""
    path = data_dir() / name
    if not path.is_dir():
        raise ConfigError(f"{path} does not exist: the data folder holds no {name!r} corpus")
    return path
