"""The store contract: every test here runs on both backends, a SQLite file and a fresh PostgreSQL
database of this session's private cluster (tests/support/pg.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.pg import fresh_database, pg_cluster  # noqa: F401 (the session fixture)

BACKENDS = ["sqlite", "postgresql"]


def make_store(kind: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    """A new empty store of ``kind``: its location (a path or a postgresql:// URL)."""
    if kind == "sqlite":
        return str(tmp / "collector.db")
    return fresh_database(request.getfixturevalue("pg_cluster"))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store on each backend in turn."""
    return make_store(request.param, tmp_path, request)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    """An empty PostgreSQL database (the tests only PostgreSQL has: several writers)."""
    return fresh_database(request.getfixturevalue("pg_cluster"))
