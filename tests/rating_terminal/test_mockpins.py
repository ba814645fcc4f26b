"""MOTCUA_MOCK_PINS: a key written to the running unit's FIFO presses its mock pin (setup.sh
--mock-hardware, the system test's rating), and never on real pins."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from mqtt import topics
from rating_terminal.mockpins import PinControl
from tests.support.mqtt import Recorder
from tests.support.wait import wait_for

from .conftest import EXAMPLE, ROOT, SITE, make_config


def test_a_key_in_the_fifo_presses_the_served_desks_button(broker, tmp_path):
    rec = Recorder(broker.port, topics.events_filter(SITE, "rating"))
    cfg = tmp_path / "rating-terminal.toml"
    cfg.write_text(EXAMPLE.read_text(encoding="utf-8")
                   .replace('outbox = "/var/lib/motcua/rating-terminal/outbox.db"', f'outbox = "{tmp_path / "o.db"}"'),
                   encoding="utf-8")
    fifo = tmp_path / "run" / "pins"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GPIOZERO_PIN_FACTORY": "mock", "MOTCUA_MOCK_PINS": str(fifo)}
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen([sys.executable, "-m", "rating_terminal", "--config", str(cfg), "--broker", broker.url],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(fifo.exists, 30), "the unit made no FIFO"
        with open(fifo, "w") as f:      # as the system test does: echo 4 > /run/.../pins
            f.write("4\n")
        assert rec.wait_for(lambda m: any(t.endswith("/evt/rating") for t, _, _ in m), 15)
        rating = next(json.loads(p) for t, p, _ in rec.messages if t.endswith("/evt/rating"))
        assert rating["data"]["score"] == 4 and rating["device"] == "rt-05"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        rec.close()
    assert proc.returncode == 0, out
    assert "pressed GPIO6" in out        # score 4's button in the example config
    assert not fifo.exists()             # removed at stop


def test_refused_on_real_pins(tmp_path):
    with pytest.raises(ValueError, match="mock pins only"):
        PinControl(tmp_path / "pins", object(), make_config(tmp_path))
    assert not (tmp_path / "pins").exists()
