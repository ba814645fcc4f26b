"""Presence zones: polygons in coordinates relative to the frame (0..1), rasterised per size."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from .errors import BadZone

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


@dataclass(frozen=True)
class PresenceZone:
    """One zone watched for presence: a desk's officer seat or citizen area (or a free name
    in offline tools). ``polygon`` holds (x, y) pairs relative to the frame, 0..1."""

    name: str
    polygon: tuple[tuple[float, float], ...]
    desk: int | None = None
    role: str | None = None  # "officer" or "citizen" for desk zones

    def __post_init__(self) -> None:
        check_polygon(self.polygon, self.name)

    def mask(self, width: int, height: int) -> np.ndarray:
        """uint8 mask (255 inside) of the zone at a frame size."""
        m = np.zeros((height, width), np.uint8)
        cv2.fillPoly(m, [self.pixels(width, height)], 255)
        return m

    def pixels(self, width: int, height: int) -> np.ndarray:
        pts = np.array(self.polygon, np.float64) * (width - 1, height - 1)
        return np.round(pts).astype(np.int32).reshape(-1, 1, 2)

    def contains(self, x: float, y: float) -> bool:
        """Whether a relative point lies inside (or on the edge of) the polygon."""
        contour = np.array(self.polygon, np.float32).reshape(-1, 1, 2)
        return cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0

    @property
    def label(self) -> str:
        if self.desk is None:
            return self.name
        role_vi = {"officer": "cán bộ", "citizen": "công dân"}.get(self.role or "", self.role or "")
        return f"Quầy {self.desk} {role_vi} / desk {self.desk} {self.role}"


def check_polygon(points: Sequence[Sequence[float]], name: str = "zone") -> None:
    if len(points) < 3:
        raise BadZone(f"zone {name!r} has {len(points)} point(s); a polygon needs at least 3 (x,y) pairs")
    for p in points:
        if len(p) != 2:
            raise BadZone(f"zone {name!r}: point {tuple(p)!r} must be an (x, y) pair")
        x, y = p
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise BadZone(f"zone {name!r}: point ({x}, {y}) is outside the frame; use relative "
                          f"coordinates between 0 and 1 (0,0 top left, 1,1 bottom right)")
    area = abs(cv2.contourArea(np.array(points, np.float32).reshape(-1, 1, 2)))
    if area <= 1e-6:
        raise BadZone(f"zone {name!r} has no area: its points lie on a line")


def parse_zone_option(text: str) -> PresenceZone:
    """Parse ``NAME=x1,y1,x2,y2,x3,y3[,...]`` (the --zone option of replay and evaluate)."""
    name, sep, coords = text.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise BadZone(f"--zone {text!r}: expected NAME=x1,y1,x2,y2,x3,y3 with NAME made of letters, "
                      f"digits, '_', '-' or '.', e.g. seat=0.40,0.30,0.72,0.30,0.72,0.97,0.40,0.97")
    try:
        values = [float(v) for v in coords.split(",") if v.strip()]
    except ValueError:
        raise BadZone(f"--zone {text!r}: coordinates must be numbers between 0 and 1") from None
    if len(values) % 2:
        raise BadZone(f"--zone {text!r}: {len(values)} numbers given; coordinates come in x,y pairs")
    pts = tuple((values[i], values[i + 1]) for i in range(0, len(values), 2))
    return PresenceZone(name, pts)


@dataclass
class ZoneRaster:
    """A zone rasterised at one working size: bounding box and the mask cropped to it."""

    zone: PresenceZone
    x: int
    y: int
    mask: np.ndarray  # uint8 crop, 255 inside
    area: int
    full: np.ndarray = field(repr=False)  # uint8 full-frame mask

    @property
    def slices(self) -> tuple[slice, slice]:
        h, w = self.mask.shape
        return slice(self.y, self.y + h), slice(self.x, self.x + w)


def rasterise(zone: PresenceZone, width: int, height: int) -> ZoneRaster:
    full = zone.mask(width, height)
    x, y, w, h = cv2.boundingRect(full)
    if w == 0 or h == 0:
        raise BadZone(f"zone {zone.name!r} covers no pixel at {width}x{height}; draw it larger")
    crop = full[y:y + h, x:x + w].copy()
    return ZoneRaster(zone, x, y, crop, int(cv2.countNonZero(crop)), full)
