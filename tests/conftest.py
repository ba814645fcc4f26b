"""Shared fixtures: a private Mosquitto per test (or module) and temp SQLite files."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.broker import Mosquitto  # noqa: E402

SHARED = ROOT.parent / "shared"
TESTDATA = SHARED / "testdata"
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(autouse=True)
def _role_logging_undone():
    """A role's main() run in-process sets up logging on the stderr pytest captured for that test,
    which pytest closes afterwards: drop such handlers (and the level) again, so a later log line
    from a still-running thread does not write to a closed file."""
    root = logging.getLogger()
    level = root.level
    yield
    for h in root.handlers[:]:
        if type(h) is logging.StreamHandler and getattr(h, "stream", None) is not sys.__stderr__:
            root.removeHandler(h)
    root.setLevel(level)


@pytest.fixture
def broker(tmp_path: Path):
    """A private Mosquitto on a free loopback port; stop/restart/kill it mid-test."""
    b = Mosquitto(tmp_path / "mosquitto")
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory):
    b = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A path for a fresh SQLite file in this test's temp dir."""
    return tmp_path / "test.db"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests save screenshots and other things a person should look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
