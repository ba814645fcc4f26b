"""The delivery tests' store: a real collector ingest confirming what it stored."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from collector.ingest import Ingest
from tests.mqtt.site import start_ingest


@pytest.fixture
def store_db(tmp_path: Path) -> Path:
    return tmp_path / "collector.db"


@pytest.fixture
def site(broker, store_db: Path) -> Iterator[Ingest]:
    """A collector ingest for site s1 on the test's broker, writing store_db."""
    ing = start_ingest(broker.url, store_db, "s1")
    yield ing
    ing.stop()
