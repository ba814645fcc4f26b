"""Synthetic desk scenes drawn with numpy, for tests and the simulated centre: a textured office, a chair, a person who walks in,
sits, barely moves and walks off, a bag, lights. Frames are BGR uint8 with sensor noise, so the
detector is proven on more than the one real clip."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

W, H = 320, 240
CHAIR_AT = (200, 150)


def _texture(rng: np.random.Generator, h: int, w: int, lo: int, hi: int, cells: int = 8) -> np.ndarray:
    small = rng.uniform(lo, hi, (max(2, h // cells), max(2, w // cells))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@dataclass
class Sprite:
    image: np.ndarray  # float32 grey
    mask: np.ndarray  # bool


def person_sprite(rng: np.random.Generator, w: int = 56, h: int = 110, face: bool = True) -> Sprite:
    img = np.zeros((h, w), np.float32)
    mask = np.zeros((h, w), np.uint8)
    cv2.circle(mask, (w // 2, 14), 12, 1, -1)  # head
    cv2.rectangle(mask, (6, 28), (w - 7, h - 1), 1, -1)  # torso and legs
    img[:] = _texture(rng, h, w, 30, 90, 4)  # dark clothes with folds
    img[:28] = 170  # face and hair band
    img[:10] = 40
    stripes = (np.arange(h)[:, None] // 6 % 2) * 25
    img[28:70] += stripes[28:70]
    if face:
        draw_face(img, w // 2, 15, 12)
    else:  # seen from behind: hair all over the head
        cv2.circle(img, (w // 2, 14), 12, 45, -1)
    return Sprite(img, mask.astype(bool))


def draw_face(img: np.ndarray, cx: int, cy: int, r: int) -> None:
    """A face seen from the front (skin, hair, eyes, brows, nose, mouth) drawn in grey: enough
    for OpenCV's frontal-face cascade, as a real face is."""
    cv2.ellipse(img, (cx, cy), (int(r * 0.8), r), 0, 0, 360, 175, -1)
    cv2.ellipse(img, (cx, cy - int(r * 0.95)), (int(r * 0.85), int(r * 0.35)), 0, 180, 360, 40, -1)
    for s in (-1, 1):
        cv2.ellipse(img, (cx + s * int(r * 0.35), cy - int(r * 0.2)), (int(r * 0.18), int(r * 0.09)), 0, 0, 360, 50, -1)
        cv2.line(img, (cx + s * int(r * 0.15), cy - int(r * 0.42)), (cx + s * int(r * 0.55), cy - int(r * 0.42)),
                 80, max(1, r // 10))
    cv2.line(img, (cx, cy - int(r * 0.1)), (cx, cy + int(r * 0.3)), 140, max(1, r // 12))
    cv2.ellipse(img, (cx, cy + int(r * 0.55)), (int(r * 0.3), int(r * 0.08)), 0, 0, 360, 70, -1)


def camouflaged_sprite(base: Sprite, background: np.ndarray, at: tuple[int, int], offset: float = 6.0) -> Sprite:
    """A person whose clothes are close to what is behind them at ``at`` (a grey shirt in front
    of a grey wall): the body is the background plus ``offset`` grey levels; the face stays."""
    h, w = base.mask.shape
    x, y = at
    img = base.image.copy()
    behind = background[y:y + h, x:x + w]
    bh, bw = behind.shape
    img[28:bh, :bw] = behind[28:] + offset
    return Sprite(img, base.mask)


def block_sprite(rng: np.random.Generator, w: int, h: int, lo: int, hi: int) -> Sprite:
    return Sprite(_texture(rng, h, w, lo, hi, 4), np.ones((h, w), bool))


@dataclass
class Scene:
    """Draw frames of an office; positions are top-left pixels of each sprite."""

    seed: int = 0
    noise: float = 2.0
    background: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.rng = np.random.default_rng(self.seed + 1)
        bg = _texture(rng, H, W, 90, 170, 16)
        bg[int(H * 0.55):, :] = _texture(rng, H - int(H * 0.55), W, 140, 200, 10)  # floor / desk
        cv2.rectangle(bg, (20, 30), (120, 90), 220, -1)  # a notice board
        self.background = bg
        self.person = person_sprite(rng)
        self.chair = block_sprite(rng, 50, 60, 20, 60)
        self.bag = block_sprite(rng, 30, 24, 200, 250)
        behind = self.background.copy()
        self._paste(behind, self.chair, *CHAIR_AT)
        self.camouflaged = camouflaged_sprite(self.person, behind, SEATED_AT)
        self.screen_rng = np.random.default_rng(self.seed + 2)
        self.back = person_sprite(np.random.default_rng(self.seed + 3), face=False)

    @staticmethod
    def _paste(img: np.ndarray, s: Sprite, x: int, y: int) -> None:
        h, w = s.mask.shape
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
        if x0 >= x1 or y0 >= y1:
            return
        sub_m = s.mask[y0 - y:y1 - y, x0 - x:x1 - x]
        region = img[y0:y1, x0:x1]
        region[sub_m] = s.image[y0 - y:y1 - y, x0 - x:x1 - x][sub_m]

    def frame(self, person: tuple[int, int] | None = None, chair: tuple[int, int] | None = CHAIR_AT,
              bag: tuple[int, int] | None = None, light: float = 1.0,
              light_map: np.ndarray | None = None, screen: tuple[int, int, int, int] | None = None,
              camouflaged: bool = False, cover: tuple[int, int, int, int] | None = None,
              back: bool = False) -> np.ndarray:
        """One frame. ``screen`` (x, y, w, h): a monitor whose picture changes every frame;
        ``camouflaged``: the person's clothes are close to the background; ``cover`` (x, y, w, h):
        something flat and grey right in front of the lens there (a blocked view); ``back``: the
        person is seen from behind (no face)."""
        img = self.background.copy()
        if screen is not None:
            sx, sy, sw, sh = screen
            img[sy:sy + sh, sx:sx + sw] = _texture(self.screen_rng, sh, sw, 30, 250, 3)
        if chair is not None:
            self._paste(img, self.chair, *chair)
        if bag is not None:
            self._paste(img, self.bag, *bag)
        if person is not None:
            self._paste(img, self.camouflaged if camouflaged else self.back if back else self.person, *person)
        if cover is not None:
            cx, cy, cw, ch = cover
            img[cy:cy + ch, cx:cx + cw] = 60.0
        img *= light
        if light_map is not None:
            img *= light_map
        if self.noise:
            img += self.rng.normal(0, self.noise, img.shape).astype(np.float32)
        g = np.clip(img, 0, 255).astype(np.uint8)
        return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


# the seat zone around the chair (200..250 x 150..210) and where a seated person sits
SEAT = ((180 / W, 80 / H), (275 / W, 80 / H), (275 / W, 225 / H), (180 / W, 225 / H))
SEATED_AT = (197, 95)


def walk(a: tuple[int, int], b: tuple[int, int], n: int) -> list[tuple[int, int]]:
    return [(round(a[0] + (b[0] - a[0]) * i / max(1, n - 1)), round(a[1] + (b[1] - a[1]) * i / max(1, n - 1)))
            for i in range(n)]


def seated_positions(rng: np.random.Generator, n: int, fps: float, max_still_s: float,
                     fidget_s: float = 4.0) -> list[tuple[int, int]]:
    """A seated person: fidgets for ``fidget_s``, then shifts by 1-2 px only now and then,
    with still spells up to ``max_still_s``."""
    x, y = SEATED_AT
    out = []
    next_move = 0
    for i in range(n):
        if i < fidget_s * fps:
            dx, dy = rng.integers(-3, 4), rng.integers(-2, 3)
            out.append((x + int(dx), y + int(dy)))
            continue
        if i >= next_move:
            x = SEATED_AT[0] + int(rng.integers(-2, 3))
            y = SEATED_AT[1] + int(rng.integers(-1, 2))
            next_move = i + int(rng.uniform(1.0, max_still_s) * fps)
        out.append((x, y))
    return out
