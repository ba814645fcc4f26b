"""Optional person checks from OpenCV 4 alone (no downloaded model): HOG people detector or a
Haar cascade (OpenCV's upper body by default, or a cascade file the user supplies).

Used only where it matters: before a still zone is called empty (see detector.py)."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from .config import DetectionConfig
from .detector import PersonCheck
from .errors import CameraAgentError

log = logging.getLogger(__name__)


def _crop(frame: np.ndarray, box: tuple[int, int, int, int], min_h: int) -> np.ndarray:
    x, y, w, h = box
    H, W = frame.shape[:2]
    pad_x, pad_y = w // 5, h // 5  # a seated body often spills over the zone's edge
    crop = frame[max(0, y - pad_y):min(H, y + h + pad_y), max(0, x - pad_x):min(W, x + w + pad_x)]
    if crop.size and crop.shape[0] < min_h:
        scale = min_h / crop.shape[0]
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    return crop


class HogPersonCheck:
    """OpenCV's default HOG people detector on the zone's crop (upright people, 64x128)."""

    def __init__(self) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))

    def __call__(self, frame: np.ndarray, box: tuple[int, int, int, int]) -> bool:
        crop = _crop(frame, box, 160)
        if crop.shape[0] < 128 or crop.shape[1] < 64:
            return False
        rects, _ = self._hog.detectMultiScale(crop, winStride=(8, 8), padding=(8, 8), scale=1.1)
        return len(rects) > 0


class CascadePersonCheck:
    """A Haar/LBP cascade (default: OpenCV's haarcascade_upperbody.xml)."""

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            base = getattr(getattr(cv2, "data", None), "haarcascades", None)
            if not base:
                raise CameraAgentError("this OpenCV build ships no cascades; set detection.cascade_path")
            path = Path(base) / "haarcascade_upperbody.xml"
        try:
            self._cascade = cv2.CascadeClassifier(str(path))
        except (cv2.error, SystemError) as exc:  # OpenCV wraps its parse error in a SystemError
            raise CameraAgentError(f"cannot load the cascade {path}: give a Haar or LBP cascade "
                                   f"XML file") from exc
        if self._cascade.empty():
            raise CameraAgentError(f"cannot load the cascade {path}: give a Haar or LBP cascade XML file")

    def __call__(self, frame: np.ndarray, box: tuple[int, int, int, int]) -> bool:
        crop = _crop(frame, box, 120)
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        found = self._cascade.detectMultiScale(cv2.equalizeHist(gray), scaleFactor=1.1,
                                               minNeighbors=3, minSize=(24, 24))
        return len(found) > 0


def make_person_check(cfg: DetectionConfig) -> PersonCheck | None:
    if cfg.person_check == "hog":
        return HogPersonCheck()
    if cfg.person_check == "cascade":
        return CascadePersonCheck(cfg.cascade_path)
    return None
