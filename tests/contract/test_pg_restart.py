"""A PostgreSQL server that restarts under a writer and a reader: the write in flight fails as a
store error the ingest retries (nothing half-stored), and the next ones go through on a new connection."""
from __future__ import annotations

import pytest

from collector import backend
from collector.db import open_db
from collector.queries import Reader
from collector.store import Store
from ops.pgcluster import PgCluster, find_bindir
from tests.collector.test_store import msg
from tests.collector.wire import rating


@pytest.fixture
def own_cluster():
    """A cluster of this test's own: it is stopped and started again mid-test."""
    try:
        find_bindir()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    c = PgCluster().start()
    yield c
    c.stop(remove=True, mode="immediate")


def test_writer_and_reader_survive_a_server_restart(own_cluster):
    store = Store(open_db(own_cluster.url))
    reader = Reader(own_cluster.url)
    store.write_batch([msg(*rating(seq=1))])
    assert reader.counts()["events"] == 1
    own_cluster.stop(mode="immediate")  # as a crash: every session cut
    with pytest.raises(backend.OperationalError) as e:
        store.write_batch([msg(*rating(seq=2))])
    assert backend.store_error_kind(e.value) == "unavailable" and not backend.is_busy(e.value)
    own_cluster.start()
    res = store.write_batch([msg(*rating(seq=2)), msg(*rating(seq=3))])  # the ingest's retry
    assert (res.stored, res.duplicates) == (2, 0)
    with pytest.raises(backend.OperationalError):
        reader.counts()  # the reader's connection was cut too; the next call opens a new one
    assert reader.counts() == {"events": 3, "ratings": 3, "dead_letters": 0}
