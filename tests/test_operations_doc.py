"""docs/operations.md states the exit codes and what survives which fault; these tests keep the
statements and the code in step (every exit code the code uses is in the table with the same
meaning class; every fault row names a test that exists and checks it)."""

from __future__ import annotations

import re
import signal

from tests.conftest import REPO

DOC = (REPO / "docs" / "operations.md").read_text()


def _table(after: str) -> list[list[str]]:
    part = DOC.split(after, 1)[1]
    rows = []
    for line in part.splitlines()[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # header and rule


def test_exit_codes_in_the_doc_are_the_codes_in_the_code():
    from allabel.core.errors import ConfigError, DatabaseError, InputError, Interrupted, LLMError
    from allabel.store.locks import Busy

    doc = {int(r[0]): r[1] for r in _table("## Exit codes")}
    code = {InputError.exit_code: "bad input", ConfigError.exit_code: "configuration or usage",
            DatabaseError.exit_code: "database error", LLMError.exit_code: "LLM error",
            Busy.exit_code: "already running",
            Interrupted(signal.SIGINT, "x").exit_code: "SIGINT",
            Interrupted(signal.SIGTERM, "x").exit_code: "SIGTERM"}
    for c, words in code.items():
        assert c in doc and words in doc[c], (c, doc.get(c))
    assert set(doc) - {7} == {0, 1, *code}  # 7: `db status` answering "not running"


def test_every_fault_row_names_an_existing_test():
    rows = _table("### What survives which fault")
    assert len(rows) >= 8
    sources = "".join((REPO / "tests" / f).read_text() for f in ("test_faults.py", "test_chaos.py"))
    for fault, survives, test in rows:
        name = test.strip("`")
        assert re.search(rf"^def {name}\(", sources, re.M), name
        assert fault and survives
