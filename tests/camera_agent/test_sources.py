"""Frame sources: OpenCV files and image sequences; a camera that disappears and comes back."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera_agent.errors import SourceUnavailable
from camera_agent.sources import CameraSupervisor, OpenCVSource, open_source
from common.clock import FakeClock

from .conftest import write_video
from camera_agent.synthetic import Scene


class UnpluggableCamera:
    """A camera on a cable: frames while plugged, nothing after it is pulled."""

    def __init__(self) -> None:
        self.plugged = True
        self.opened = 0
        self.scene = Scene(seed=2)

    def open(self) -> "UnpluggableCamera":
        if not self.plugged:
            raise SourceUnavailable("no such device /dev/video0")
        self.opened += 1
        return self

    def read(self) -> np.ndarray | None:
        return self.scene.frame() if self.plugged else None

    def close(self) -> None:
        pass


def make(clock: FakeClock, cam: UnpluggableCamera, faults: list):
    return CameraSupervisor(cam.open, clock, lambda active, detail: faults.append((active, detail)),
                            reopen_min_s=1.0, reopen_max_s=8.0, lost_after_s=3.0)


def test_camera_that_disappears_raises_a_fault_once_and_clears_it_when_back():
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc))
    cam, faults = UnpluggableCamera(), []
    sup = make(clock, cam, faults)
    assert sup.read() is not None and cam.opened == 1
    cam.plugged = False
    tries = []
    for _ in range(60):  # 30 s unplugged, read every 0.5 s
        clock.advance(0.5)
        before = cam.opened
        assert sup.read() is None
        tries.append(clock.monotonic())
        assert cam.opened == before
    assert faults == [(True, faults[0][1])], "one fault, raised once, while the camera is away"
    assert "no frame" in faults[0][1]
    cam.plugged = True
    got = None
    for _ in range(40):  # back-off is at most 8 s
        clock.advance(0.5)
        got = sup.read()
        if got is not None:
            break
    assert got is not None and cam.opened == 2
    assert faults[-1] == (False, "frames are back") and len(faults) == 2


def test_reopen_backs_off_exponentially():
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc))
    attempts: list[float] = []

    def opener():
        attempts.append(clock.monotonic())
        raise SourceUnavailable("gone")

    sup = CameraSupervisor(opener, clock, lambda *a: None, reopen_min_s=1.0, reopen_max_s=8.0, lost_after_s=3.0)
    for _ in range(400):
        sup.read()
        clock.advance(0.1)
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert gaps[:4] == pytest.approx([1.0, 2.0, 4.0, 8.0], abs=0.11)
    assert all(abs(g - 8.0) <= 0.11 for g in gaps[4:])


def test_video_file_and_image_sequence_sources(tmp_path: Path):
    frames = [Scene(seed=3).frame() for _ in range(6)]
    video = write_video(tmp_path / "v.avi", frames)
    src = open_source(str(video))
    n = 0
    while src.read() is not None:
        n += 1
    src.close()
    assert n == 6
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"img_{i:03d}.png"), f)
    seq = OpenCVSource(str(tmp_path / "img_%03d.png"))
    first = seq.read()
    assert first is not None and first.shape == frames[0].shape
    seq.close()


def test_missing_source_names_what_to_check(tmp_path: Path):
    with pytest.raises(SourceUnavailable, match="device index|file path|URL"):
        open_source(str(tmp_path / "missing.avi"))


def test_picamera2_absent_is_a_clear_error():
    pytest.importorskip("cv2")
    try:
        import picamera2  # noqa: F401
        pytest.skip("picamera2 is installed here")
    except ImportError:
        pass
    with pytest.raises(SourceUnavailable, match="picamera2"):
        open_source("picamera2")
