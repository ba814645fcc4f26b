"""Whether a zone can be read at all: a zone whose view is blocked, too dark, or whose camera
froze is ``unknown`` (neither present nor absent), with a fault raised once and cleared once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from .config import DetectionConfig

FAULT_TEXT = {
    "view_blocked": ("Vùng quầy bị che khuất, không xác định được có mặt",
                     "The zone's view is blocked: presence unknown"),
    "view_dark": ("Vùng quầy quá tối, không xác định được có mặt", "The zone is too dark: presence unknown"),
    "camera_frozen": ("Hình camera bị đứng, không xác định được có mặt",
                      "The camera's picture froze: presence unknown"),
}


class ViewFault(NamedTuple):
    """A fault raised (``active``) or cleared for one zone."""

    code: str
    active: bool
    zone: str
    detail: str


@dataclass
class ZoneHealth:
    bad_since: float | None = None
    good_since: float | None = None
    fault: str | None = None  # the code raised, while unknown


class HealthWatch:
    """Per zone: dark (mean grey below ``dark_level``), blocked (grey spread below
    ``blocked_std``), frozen (every frame byte-identical for ``frozen_s``: a live sensor always
    has noise). A bad view must last ``fault_after_s``; a good one ``fault_clear_s``."""

    def __init__(self, names: list[str], cfg: DetectionConfig):
        self.cfg = cfg
        self.zones = {n: ZoneHealth() for n in names}
        self._prev: np.ndarray | None = None
        self._same_since: float | None = None

    def _frozen(self, gray: np.ndarray, t: float) -> bool:
        same = self._prev is not None and self._prev.shape == gray.shape and not cv2.norm(gray, self._prev, cv2.NORM_INF)
        self._prev = gray
        if not same:
            self._same_since = None
            return False
        if self._same_since is None:
            self._same_since = t
        return t - self._same_since >= self.cfg.frozen_s

    def check(self, gray: np.ndarray, crops: dict[str, tuple[np.ndarray, np.ndarray]], t: float) -> list[ViewFault]:
        """``gray``: the whole raw grey frame; ``crops``: per zone (grey crop, mask crop)."""
        frozen = self._frozen(gray, t)
        out = []
        for name, (crop, mask) in crops.items():
            mean, std = cv2.meanStdDev(crop, mask=mask)
            code = ("camera_frozen" if frozen else "view_dark" if float(mean[0, 0]) < self.cfg.dark_level
                    else "view_blocked" if float(std[0, 0]) < self.cfg.blocked_std else None)
            detail = f"mean {float(mean[0, 0]):.0f}, spread {float(std[0, 0]):.1f}"
            out.extend(self._update(name, code, t, detail))
        return out

    def _update(self, name: str, code: str | None, t: float, detail: str) -> list[ViewFault]:
        h = self.zones[name]
        out = []
        if code is None:
            h.bad_since = None
            if h.good_since is None:
                h.good_since = t
            if h.fault and t - h.good_since >= self.cfg.fault_clear_s:
                out.append(ViewFault(h.fault, False, name, detail))
                h.fault = None
            return out
        h.good_since = None
        if h.bad_since is None:
            h.bad_since = t
        if h.fault != code and t - h.bad_since >= self.cfg.fault_after_s:
            if h.fault:
                out.append(ViewFault(h.fault, False, name, detail))
            out.append(ViewFault(code, True, name, detail))
            h.fault = code
        return out

    def unknown(self, name: str) -> bool:
        return self.zones[name].fault is not None
