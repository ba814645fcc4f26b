"""ops.pgcluster: a private cluster on a free loopback port, fresh databases, a clean stop."""
from __future__ import annotations

import psycopg

from tests.support.pg import fresh_database, pg_cluster  # noqa: F401 (the fixture)


def test_private_cluster_on_loopback_not_5432(pg_cluster):
    assert pg_cluster.port != 5432
    assert pg_cluster.url.startswith("postgresql://motcua:") and "@127.0.0.1:" in pg_cluster.url
    with psycopg.connect(pg_cluster.url) as conn:
        port, sockdir = conn.execute(
            "SELECT current_setting('port'), current_setting('unix_socket_directories')").fetchone()
    assert int(port) == pg_cluster.port
    assert sockdir == str(pg_cluster.sockets) and pg_cluster.sockets.is_relative_to(pg_cluster.dir)


def test_fresh_databases_are_separate(pg_cluster):
    a, b = fresh_database(pg_cluster), fresh_database(pg_cluster)
    assert a != b
    with psycopg.connect(a) as conn:
        conn.execute("CREATE TABLE only_in_a (x int)")
    with psycopg.connect(b) as conn:
        assert conn.execute("SELECT to_regclass('only_in_a')").fetchone() == (None,)


def test_wrong_password_is_refused(pg_cluster):
    bad = pg_cluster.url.replace(pg_cluster.password, "wrong")
    try:
        psycopg.connect(bad, connect_timeout=5).close()
    except psycopg.OperationalError as e:
        assert "password" in str(e)
    else:
        raise AssertionError("a wrong password logged in")


def test_stop_and_remove(tmp_path):
    from ops.pgcluster import PgCluster
    c = PgCluster(dbname="solo").start()
    assert c.running
    with psycopg.connect(c.url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("solo",)
    c.stop(remove=True)
    assert not c.running and not c.dir.exists()
