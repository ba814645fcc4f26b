"""Simulated cameras for the demo: each watches four desks (a 2x2 grid of synthetic desk scenes,
an officer's chair on the left of each, a citizen's on the right) and draws people where the
simulation says they are, with the small movements of people sitting at a desk. The real
camera agent, with its real detector and hold times, turns the frames into presence."""
from __future__ import annotations

import threading

import cv2
import numpy as np

from camera_agent.synthetic import H, W, Scene

# Within one 320x240 desk scene: chairs, where a seated person's sprite goes, and the zones.
OFFICER_CHAIR, CITIZEN_CHAIR = (55, 150), (200, 150)
OFFICER_SEAT, CITIZEN_SEAT = (52, 95), (197, 95)
OFFICER_ZONE = (35, 80, 130, 225)  # x0, y0, x1, y1 in scene pixels
CITIZEN_ZONE = (180, 80, 275, 225)


class DeskGridCamera:
    """A FrameReader for up to four desks; ``truth[(desk, role)] = present`` drives it."""

    def __init__(self, desks: list[int], seed: int):
        if not 1 <= len(desks) <= 4:
            raise ValueError("a simulated camera watches 1 to 4 desks")
        self.desks = desks
        self.scenes = [Scene(seed=seed * 10 + i, noise=2.0) for i in range(len(desks))]
        self.rng = np.random.default_rng(seed)
        self.truth: dict[tuple[int, str], bool] = {}
        self._pose: dict[tuple[int, str], tuple[int, int]] = {}
        self.lock = threading.Lock()

    def set(self, desk: int, role: str, present: bool) -> None:
        with self.lock:
            self.truth[(desk, role)] = present

    def zones(self) -> list[dict[str, object]]:
        """[[desks]] tables for the camera agent's config, frame-relative polygons."""
        out = []
        for i, desk in enumerate(self.desks):
            ox, oy = (i % 2) * W, (i // 2) * H

            def poly(z: tuple[int, int, int, int]) -> list[list[float]]:
                x0, y0, x1, y1 = z
                return [[(ox + x0) / (2 * W), (oy + y0) / (2 * H)], [(ox + x1) / (2 * W), (oy + y0) / (2 * H)],
                        [(ox + x1) / (2 * W), (oy + y1) / (2 * H)], [(ox + x0) / (2 * W), (oy + y1) / (2 * H)]]

            out.append({"desk": desk, "zones": [{"role": "officer", "polygon": poly(OFFICER_ZONE)},
                                                {"role": "citizen", "polygon": poly(CITIZEN_ZONE)}]})
        return out

    def _seated(self, key: tuple[int, str], home: tuple[int, int]) -> tuple[int, int]:
        """Mostly still, shifting by a pixel or two now and then."""
        x, y = self._pose.get(key, home)
        if self.rng.random() < 0.3:
            x = home[0] + int(self.rng.integers(-2, 3))
            y = home[1] + int(self.rng.integers(-1, 2))
        self._pose[key] = (x, y)
        return x, y

    def _tile(self, i: int, desk: int) -> np.ndarray:
        s = self.scenes[i]
        img = s.background.copy()
        s._paste(img, s.chair, *OFFICER_CHAIR)
        s._paste(img, s.chair, *CITIZEN_CHAIR)
        with self.lock:
            officer = self.truth.get((desk, "officer"), False)
            citizen = self.truth.get((desk, "citizen"), False)
        if officer:
            s._paste(img, s.person, *self._seated((desk, "officer"), OFFICER_SEAT))
        if citizen:
            s._paste(img, s.person, *self._seated((desk, "citizen"), CITIZEN_SEAT))
        img += self.rng.normal(0, s.noise, img.shape).astype(np.float32)
        return np.clip(img, 0, 255).astype(np.uint8)

    def read(self) -> np.ndarray:
        grid = np.full((2 * H, 2 * W), 128, np.uint8)
        for i, desk in enumerate(self.desks):
            ox, oy = (i % 2) * W, (i // 2) * H
            grid[oy:oy + H, ox:ox + W] = self._tile(i, desk)
        return cv2.cvtColor(grid, cv2.COLOR_GRAY2BGR)

    def close(self) -> None:
        pass
