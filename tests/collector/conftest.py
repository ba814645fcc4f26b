from __future__ import annotations

from pathlib import Path

import pytest

from tests.collector.wire import CollectorProcess, Publisher


@pytest.fixture
def collector(broker, tmp_path: Path):
    """A collector subprocess on a private broker and a fresh SQLite file."""
    c = CollectorProcess(broker.url, tmp_path / "collector.db").start()
    yield c
    c.stop()


@pytest.fixture
def publisher(broker):
    p = Publisher(broker.port)
    yield p
    p.close()
