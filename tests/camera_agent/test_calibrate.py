"""calibrate writes one annotated PNG on the device and publishes nothing."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from camera_agent import cli
from camera_agent.calibrate import annotate
from camera_agent.zones import PresenceZone
from tests.support.mqtt import Recorder

from .conftest import write_video
from camera_agent.synthetic import SEAT, Scene


def config(tmp_path: Path, broker_url: str, source: Path) -> Path:
    p = tmp_path / "camera.toml"
    p.write_text(f"""
site = "camau-hcc"
device = "cam-01"
state_dir = "{tmp_path / 'state'}"
snapshot_path = "{tmp_path / 'snap' / 'zones.png'}"
[mqtt]
url = "{broker_url}"
[source]
uri = "{source}"
[[desks]]
desk = 4
zones = [{{ role = "officer", polygon = {[list(p) for p in SEAT]} }}]
""")
    return p


def test_annotate_draws_the_zone_on_a_copy():
    frame = Scene(seed=1, noise=0).frame()
    out = annotate(frame, [PresenceZone("seat", SEAT, 4, "officer")])
    assert out.shape == frame.shape and not np.array_equal(out, frame)
    assert np.array_equal(frame, Scene(seed=1, noise=0).frame()), "the input frame is untouched"


def test_calibrate_writes_a_png_and_publishes_nothing(tmp_path: Path, broker, capsys):
    video = write_video(tmp_path / "cam.avi", [Scene(seed=4).frame() for _ in range(10)])
    cfg = config(tmp_path, broker.url, video)
    rec = Recorder(broker.port, "#")
    try:
        assert cli.main(["calibrate", "--config", str(cfg)]) == 0
        time.sleep(0.5)
        assert rec.messages == [], "calibrate must not publish anything"
    finally:
        rec.close()
    png = tmp_path / "snap" / "zones.png"
    img = cv2.imread(str(png))
    assert img is not None and img.shape[:2] == (240, 320)
    assert "calibration snapshot saved" in capsys.readouterr().out
    assert not (tmp_path / "state").exists(), "no outbox, no client: nothing to publish"


def test_calibrate_shows_the_person_evidence_found(tmp_path: Path, broker, capsys):
    from camera_agent.synthetic import SEATED_AT
    video = write_video(tmp_path / "cam.avi", [Scene(seed=5).frame(person=SEATED_AT) for _ in range(6)])
    cfg = config(tmp_path, broker.url, video)
    assert cli.main(["calibrate", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "person evidence: face" in out, out
