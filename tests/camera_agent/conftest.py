"""Fixtures of the camera agent tests: the real clip (skipped with a reason when absent) and
synthetic videos written to temp files."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import TESTDATA

from camera_agent.synthetic import SEATED_AT, Scene, walk

DESK_VIDEO = TESTDATA / "desk_video"
CLIP = DESK_VIDEO / "seated_person_160x120.avi"
LABELS = DESK_VIDEO / "labels.csv"
CLIP_SEAT = "seat=0.40,0.30,0.72,0.30,0.72,0.97,0.40,0.97"


@pytest.fixture
def real_clip() -> Path:
    if not CLIP.exists() or not LABELS.exists():
        pytest.skip(f"real footage not found at {DESK_VIDEO} (../shared/testdata is not ours to ship); "
                    "synthetic tests still cover the feature")
    return CLIP


def write_video(path: Path, frames: list[np.ndarray], fps: float = 5.0) -> Path:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert vw.isOpened(), "OpenCV cannot write MJPG here"
    for f in frames:
        vw.write(f)
    vw.release()
    return path


@pytest.fixture
def synthetic_video(tmp_path: Path) -> tuple[Path, Path]:
    """An empty office for 10 s, a person walks in and sits 30 s, leaves; 5 fps; with labels."""
    sc = Scene(seed=5)
    rng = np.random.default_rng(7)
    frames = [sc.frame() for _ in range(50)]
    frames += [sc.frame(person=p) for p in walk((-60, 95), SEATED_AT, 10)]
    for i in range(150):
        dx = int(rng.integers(-2, 3)) if i % 7 == 0 else 0
        frames.append(sc.frame(person=(SEATED_AT[0] + dx, SEATED_AT[1])))
    frames += [sc.frame(person=p) for p in walk(SEATED_AT, (330, 95), 10)]
    frames += [sc.frame() for _ in range(60)]
    video = write_video(tmp_path / "desk.avi", frames)
    # the person is in the seat zone from about frame 54 to 214
    labels = tmp_path / "labels.csv"
    labels.write_text("start_frame,end_frame,present\n0,53,0\n54,214,1\n215,279,0\n")
    return video, labels
