"""PostgreSQL for tests: one private cluster per test session (ops.pgcluster), a fresh database
per test.

    from tests.support.pg import pg_cluster, fresh_database   # noqa: F401 (the fixture)

    def test_x(pg_cluster):
        url = fresh_database(pg_cluster)       # an empty database of its own

Skips (with the reason) where PostgreSQL is not installed; CI installs it through setup.sh.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from ops.pgcluster import PgCluster, find_bindir

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster for the whole test session, removed at its end."""
    try:
        find_bindir()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    # a new directory under /tmp, not pytest's (0700 as root): the server runs as an unprivileged
    # user when we are root, and a unix socket path must stay under ~100 characters
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop(remove=True, mode="immediate")  # thrown away: no need for a clean shutdown


def fresh_database(cluster: PgCluster, template: str | None = None) -> str:
    """CREATE DATABASE for one test (optionally a copy of ``template``); its ``postgresql://`` URL."""
    name = f"t{os.getpid()}_{next(_counter)}"
    return cluster.create_database(name, template=template)
