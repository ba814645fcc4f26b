"""Person evidence: a person detector run on the region around a zone, and which of its boxes
count for the zone.

The detectors ship inside ``opencv-python-headless`` (no model is fetched at run time):

* ``face`` (default): OpenCV's frontal-face Haar cascade. An officer at a desk faces the
  citizen and the camera; a face is the one part of a person a screen, a plant or a fan does
  not draw. A face box counts for a zone when the body it implies (the face box widened and
  extended downwards) overlaps the zone, or the face itself lies in it.
* ``hog``: OpenCV's HOG people detector (upright full bodies, 64x128 windows). A box counts when
  its bottom centre lies in the zone or it overlaps the zone.

See docs/camera_agent.md for how the two were measured and why ``face`` is the default.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .errors import CameraAgentError
from .zones import PresenceZone

log = logging.getLogger(__name__)

REGION_UP = 0.6  # the region searched reaches this share of the zone's height above it (heads)
REGION_SIDE = 0.25
REGION_DOWN = 0.1
BODY_W = 2.0  # a face of width w implies a body about 2w wide ...
BODY_H = 4.0  # ... and 4 face heights tall, starting at the face's top
MIN_OVERLAP = 0.15
RECHECK_FRAMES = 3  # a periodic re-check looks at this many frames in a row  # share of the implied body box that must fall inside the zone


@dataclass(frozen=True)
class Detection:
    """One person box in full-frame pixels, with the detector's score (higher is surer)."""

    x: int
    y: int
    w: int
    h: int
    score: float
    kind: str

    def body(self) -> tuple[int, int, int, int]:
        """The box of the whole person this detection implies (a face implies a body)."""
        if self.kind != "face":
            return self.x, self.y, self.w, self.h
        bw, bh = int(self.w * BODY_W), int(self.h * BODY_H)
        return self.x + self.w // 2 - bw // 2, self.y, bw, bh


class PersonDetector(Protocol):
    """Finds people in a BGR image; boxes are in that image's pixels."""

    kind: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade (or another cascade file given by ``path``)."""

    kind = "face"

    def __init__(self, path: Path | None = None, min_neighbors: int = 4, min_size: int = 24):
        if path is None:
            base = getattr(getattr(cv2, "data", None), "haarcascades", None)
            if not base:
                raise CameraAgentError("this OpenCV build ships no cascades; set detection.cascade_path")
            path = Path(base) / "haarcascade_frontalface_default.xml"
        try:
            self._cascade = cv2.CascadeClassifier(str(path))
        except (cv2.error, SystemError) as exc:
            raise CameraAgentError(f"cannot load the cascade {path}: give a Haar or LBP cascade XML file") from exc
        if self._cascade.empty():
            raise CameraAgentError(f"cannot load the cascade {path}: give a Haar or LBP cascade XML file")
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    def detect(self, image: np.ndarray) -> list[Detection]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        rects, _, weights = self._cascade.detectMultiScale3(
            cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size), outputRejectLevels=True)
        return [Detection(int(x), int(y), int(w), int(h), float(s), self.kind)
                for (x, y, w, h), s in zip(rects, np.ravel(weights) if len(rects) else [])]


class HogPeopleDetector:
    """OpenCV's default HOG + linear SVM people detector (Dalal and Triggs)."""

    kind = "hog"

    def __init__(self, min_score: float = 0.3):
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())  # type: ignore[attr-defined]
        self.min_score = min_score

    def detect(self, image: np.ndarray) -> list[Detection]:
        if image.shape[0] < 128 or image.shape[1] < 64:
            return []
        rects, weights = self._hog.detectMultiScale(image, winStride=(8, 8), padding=(8, 8), scale=1.05)
        return [Detection(int(x), int(y), int(w), int(h), float(s), self.kind)
                for (x, y, w, h), s in zip(rects, np.ravel(weights)) if float(s) >= self.min_score]


def make_detector(kind: str, cascade_path: Path | None = None) -> PersonDetector | None:
    if kind == "face":
        return HaarFaceDetector(cascade_path)
    if kind == "hog":
        return HogPeopleDetector()
    if kind == "none":
        return None
    raise CameraAgentError(f"unknown person detector {kind!r}: use 'face', 'hog' or 'none'")


def search_region(zone: PresenceZone, width: int, height: int) -> tuple[int, int, int, int]:
    """The zone's bounding box grown upwards (heads) and sideways, in full-frame pixels."""
    xs = [p[0] for p in zone.polygon]
    ys = [p[1] for p in zone.polygon]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    zw, zh = x1 - x0, y1 - y0
    X0, X1 = max(0.0, x0 - REGION_SIDE * zw), min(1.0, x1 + REGION_SIDE * zw)
    Y0, Y1 = max(0.0, y0 - REGION_UP * zh), min(1.0, y1 + REGION_DOWN * zh)
    x, y = int(X0 * width), int(Y0 * height)
    return x, y, max(1, int(X1 * width) - x), max(1, int(Y1 * height) - y)


@lru_cache(maxsize=64)
def _zone_mask(zone: PresenceZone, width: int, height: int) -> np.ndarray:
    """The zone's full-frame mask, drawn once per zone and frame size (read only)."""
    return zone.mask(width, height)


def counts_for(zone: PresenceZone, det: Detection, width: int, height: int) -> bool:
    """Whether a person box counts for the zone: the bottom centre of the person it implies lies
    in the zone, the detection itself lies in it, or the implied body overlaps it enough."""
    bx, by, bw, bh = det.body()
    if zone.contains((bx + bw / 2) / width, min(by + bh, height - 1) / height):
        return True
    if zone.contains((det.x + det.w / 2) / width, (det.y + det.h / 2) / height):
        return True
    m = _zone_mask(zone, width, height)
    x0, y0 = max(0, bx), max(0, by)
    x1, y1 = min(width, bx + bw), min(height, by + bh)
    if x1 <= x0 or y1 <= y0:
        return False
    inside = cv2.countNonZero(m[y0:y1, x0:x1])
    return inside >= MIN_OVERLAP * bw * bh


def detect_in_zone(detector: PersonDetector, frame: np.ndarray, zone: PresenceZone,
                   region_height: int) -> list[Detection]:
    """Run the detector on the zone's search region, scaled so the region is ``region_height``
    pixels tall (small people are scaled up; a 640x480 frame is scaled down), and keep the boxes
    that count for the zone, in full-frame pixels."""
    h, w = frame.shape[:2]
    rx, ry, rw, rh = search_region(zone, w, h)
    crop = frame[ry:ry + rh, rx:rx + rw]
    s = region_height / max(1, rh)
    if abs(s - 1.0) > 0.05:
        crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA)
    else:
        s = 1.0
    out = []
    for d in detector.detect(crop):
        full = Detection(rx + int(d.x / s), ry + int(d.y / s), max(1, int(d.w / s)), max(1, int(d.h / s)),
                         d.score, d.kind)
        if counts_for(zone, full, w, h):
            out.append(full)
    return out


class ZoneEvidence:
    """Person hits of one zone over time, and when the detector should look again.

    The detector runs on a zone when the cheap stage is in doubt (motion in a zone that is not
    occupied), while the zone's presence rests on person evidence alone (a still person the
    change stage never saw arrive), around a recent hit, and every ``recheck_s`` regardless,
    so a person seated before the agent started is found."""

    def __init__(self, window_s: float, min_hits: int, recheck_s: float):
        self.window_s = window_s
        self.min_hits = min_hits
        self.recheck_s = recheck_s
        self.hits: list[float] = []
        self.last_check: float | None = None
        self.holding = False
        self.last: list[Detection] = []
        self.checks = 0
        self.burst_start: float | None = None
        self.burst_left = 0

    def due(self, t: float, gate_motion: bool, occupied: bool) -> bool:
        """Whether to run the detector now. A zone the change stage holds as occupied is not
        re-checked (its evidence is already there); every other zone is, every ``recheck_s``."""
        if occupied and not self.holding:
            self.burst_left = 0
            return False
        if self.burst_start is None or t - self.burst_start >= self.recheck_s:
            self.burst_start, self.burst_left = t, RECHECK_FRAMES  # a few frames: one may miss
        if self.burst_left > 0:
            self.burst_left -= 1
            return True
        if self.holding or (self.hits and t - self.hits[-1] <= 2 * self.window_s):
            return True
        return gate_motion and not occupied

    def record(self, t: float, found: list[Detection]) -> None:
        self.last_check = t
        self.checks += 1
        self.last = found
        if found:
            self.hits.append(t)
        self.hits = [h for h in self.hits if t - h <= self.window_s]

    def present(self, t: float) -> bool:
        """Evidence of a person now: ``min_hits`` hits within the window to start, one to hold."""
        recent = sum(1 for h in self.hits if t - h <= self.window_s)
        self.holding = recent >= (1 if self.holding else self.min_hits)
        return self.holding
