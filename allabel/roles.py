"""The read-only BI role (issue: operations). Placeholder until that migration lands."""

from __future__ import annotations

from allabel.errors import DatabaseError


def reader_url(url: str) -> str:
    raise DatabaseError("the read-only reader role is not set up yet")
