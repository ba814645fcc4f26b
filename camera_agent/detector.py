"""Raw per-zone occupancy from frames: a background model plus rules about how people sit.

Per frame (shrunk to ``work_width``, grey, blurred):

* **foreground**: difference from a background that follows slow light changes (running
  average with time constant ``background_tau_s``; foreground pixels inside zones are frozen
  so a seated person is never learned away by the average). A global gain (auto exposure,
  dimming) is compensated before comparing.
* **motion**: difference from the previous frame: a living person keeps making small changes
  (breathing, head, hands); a chair or a bag makes none.

Rules per zone (:class:`ZoneTracker`):

* arrival: enough foreground *with* motion; during the enter hold it must keep moving, so a
  step change that stops at once (a desk lamp switched on) is absorbed, not called a person;
* a seated person who barely moves stays: foreground that kept its size may be still for up
  to ``still_timeout_s``;
* departure: when the foreground shrank well below the occupant's size (the person stood up
  and walked away, leaving a moved chair) and nothing moves for ``departed_still_s``, what is
  left is furniture: it is absorbed into the background;
* anything static for ``still_timeout_s`` is absorbed (a bag left on a chair does not stay
  "present" for ever), unless the optional person check sees a person there;
* most of the frame changing at once (lights switched on or off) re-bases the background;
  occupied zones then keep their state on motion alone.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

import cv2
import numpy as np

from .config import DetectionConfig
from .zones import PresenceZone, ZoneRaster, rasterise

log = logging.getLogger(__name__)

# (frame in BGR at full size, zone bounding box x, y, w, h in full-size pixels) -> person seen?
OCCUPANT_TAU_S = 5.0  # how fast the occupant's size is learned while they move
BURST_TO_STILL_S = 2.0  # stillness this soon after a big movement across the edge: "walked off"
RING_SHARE = 0.3  # the band checked for motion around a zone, as a share of the zone's size
RING_MOTION_SHARE = 0.02  # motion in that band that means the movement crossed the zone's edge

_OPEN_KERNEL = np.ones((2, 2), np.uint8)

PersonCheck = Callable[[np.ndarray, tuple[int, int, int, int]], bool]


class ZoneReading(NamedTuple):
    """What one frame showed in one zone (shares of the zone's area)."""

    foreground: float
    motion: float
    occupied: bool


@dataclass
class ZoneTracker:
    """Raw occupancy of one zone, before hold times."""

    raster: ZoneRaster
    occupied: bool = False
    arrived_at: float = 0.0
    last_motion: float = -1e18
    occupant_level: float = 0.0
    motion_only: bool = False  # after a re-base the occupant is inside the background
    last_burst: float = -1e18
    burst_crossed_edge: bool = False  # the last big movement reached beyond the zone's edge
    ring: np.ndarray | None = None  # band just outside the zone
    ring_area: int = 1
    stash: np.ndarray | None = None  # background of the zone before leftovers were absorbed
    stash_until: float = -1e18


class SceneModel:
    """Background model and zone rules for one camera; :meth:`process` once per frame."""

    def __init__(self, zones: Sequence[PresenceZone], cfg: DetectionConfig | None = None, *,
                 confirm_s: float = 1.0, person_check: PersonCheck | None = None):
        self.zones = list(zones)
        self.cfg = cfg or DetectionConfig()
        self.confirm_s = confirm_s
        self.person_check = person_check
        self._size: tuple[int, int] | None = None
        self._work: tuple[int, int] | None = None
        self.trackers: list[ZoneTracker] = []
        self.bg: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._prev_t = 0.0
        self._union: np.ndarray | None = None
        self._bgmask: np.ndarray | None = None
        self._dt = 0.0
        self._now = 0.0
        self.rebases = 0
        self.absorbed = 0
        self.rate: np.ndarray | None = None  # per pixel, share of recent frames with motion
        self.calm: np.ndarray | None = None  # 255 where the pixel is not restless
        self._diffs = 0
        self.gray: np.ndarray | None = None  # the last prepared (work size, grey, blurred) frame

    # -- set-up ---------------------------------------------------------------------------------

    def _setup(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        ww = min(self.cfg.work_width, w)
        wh = max(1, round(h * ww / w))
        self._size, self._work = (w, h), (ww, wh)
        self.trackers = [ZoneTracker(rasterise(z, ww, wh)) for z in self.zones]
        for tr in self.trackers:
            mh, mw = tr.raster.mask.shape
            k = max(3, int(RING_SHARE * min(mh, mw)) | 1)
            grown = cv2.dilate(tr.raster.full, np.ones((k, k), np.uint8))
            tr.ring = cv2.bitwise_and(grown, cv2.bitwise_not(tr.raster.full))
            tr.ring_area = max(1, cv2.countNonZero(tr.ring))
        self._union = np.zeros((wh, ww), np.uint8)
        for tr in self.trackers:
            cv2.bitwise_or(self._union, tr.raster.full, dst=self._union)
        k = 5 if ww >= 240 else 3
        self._ksize = (k, k)
        self.bg = None

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        assert self._work is not None
        if frame.shape[1] != self._work[0]:
            frame = cv2.resize(frame, self._work, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(frame, self._ksize, 0)

    def restart(self) -> None:
        """Forget the background (the camera was reopened and may have moved); occupied zones
        keep their state on motion alone until they are seen afresh."""
        self.bg = None
        self._prev = None

    # -- per frame ------------------------------------------------------------------------------

    def process(self, frame: np.ndarray, t: float) -> list[ZoneReading]:
        """Analyse one frame taken at monotonic time ``t`` (seconds); one reading per zone."""
        if self._size != (frame.shape[1], frame.shape[0]):
            self._setup(frame)
        gray = self.gray = self._prepare(frame)
        if self.bg is None or self._prev is None:
            self.bg = gray.astype(np.float32)
            self._prev, self._prev_t = gray, t
            self._bgmask = np.full(gray.shape, 255, np.uint8)
            for tr in self.trackers:
                tr.stash = None
                if tr.occupied:  # restarted with someone there: they are in the background now
                    tr.motion_only, tr.last_motion = True, t
            return [ZoneReading(0.0, 0.0, tr.occupied) for tr in self.trackers]
        cfg = self.cfg
        grayf = gray.astype(np.float32)
        # global gain (auto exposure, dimming), measured where the scene was background
        m_bg = cv2.mean(self.bg, self._bgmask)[0]
        gain = cv2.mean(grayf, self._bgmask)[0] / m_bg if m_bg > 1 else 1.0
        ref = self.bg * np.float32(gain) if abs(gain - 1.0) > 0.01 else self.bg
        diff = cv2.absdiff(grayf, ref)
        fg = cv2.threshold(diff, cfg.fg_threshold, 255, cv2.THRESH_BINARY)[1].astype(np.uint8)
        moving = cv2.threshold(cv2.absdiff(gray, self._prev), cfg.motion_threshold, 255,
                               cv2.THRESH_BINARY)[1]
        # one-pixel lines and dots are compression noise on sharp edges, not a moving person
        moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, _OPEN_KERNEL)
        dt = self._dt = max(0.0, t - self._prev_t)
        self._now = t
        self._prev, self._prev_t = gray, t
        self._restless(moving, dt)
        assert self.calm is not None
        fg = np.asarray(cv2.bitwise_and(fg, self.calm), np.uint8)
        moving = np.asarray(cv2.bitwise_and(moving, self.calm), np.uint8)

        if cv2.countNonZero(fg) > cfg.global_change_fraction * fg.size:
            self._rebase(grayf, t)
            return [ZoneReading(0.0, 0.0, tr.occupied) for tr in self.trackers]
        if cv2.countNonZero(moving) > cfg.global_change_fraction * moving.size:
            # most of the frame changed since the last one: a light step (or auto exposure),
            # which the gain compensation absorbs; it is no one's movement
            log.debug("lighting step: frame skipped by the zone rules")
            return [ZoneReading(0.0, 0.0, tr.occupied) for tr in self.trackers]

        readings = self._zone_readings(fg, moving, t, frame, grayf)

        # follow slow light changes everywhere except foreground inside zones
        assert self._union is not None  # made by _setup with the first frame
        keep = cv2.bitwise_and(fg, self._union)
        update = cv2.bitwise_not(keep)
        alpha = min(1.0, dt / cfg.background_tau_s) if dt > 0 else 0.0
        if alpha > 0:
            cv2.accumulateWeighted(grayf, self.bg, alpha, mask=update)
        self._bgmask = cv2.bitwise_not(fg)
        return readings

    def _zone_readings(self, fg: np.ndarray, moving: np.ndarray, t: float, frame: np.ndarray,
                       grayf: np.ndarray) -> list[ZoneReading]:
        """Foreground and motion shares per zone, then each zone's rules."""
        readings = []
        for tr in self.trackers:
            ys, xs = tr.raster.slices
            area = tr.raster.area
            f = cv2.countNonZero(cv2.bitwise_and(fg[ys, xs], tr.raster.mask)) / area
            m = cv2.countNonZero(cv2.bitwise_and(moving[ys, xs], tr.raster.mask)) / area
            if m >= self.cfg.burst_fraction:
                assert tr.ring is not None
                ring_m = cv2.countNonZero(cv2.bitwise_and(moving, tr.ring)) / tr.ring_area
                tr.burst_crossed_edge = ring_m >= RING_MOTION_SHARE
            self._rule(tr, f, m, t, frame, grayf)
            readings.append(ZoneReading(f, m, tr.occupied))
        return readings

    def _restless(self, moving: np.ndarray, dt: float) -> None:
        """Learn which pixels change most of the time (a screen, leaves, a fan): their change
        is not a person's. Early on the share is the plain mean, so a screen that changes from
        the first frame is known within a few frames."""
        self._diffs += 1
        m = (moving > 0).astype(np.float32)
        if self.rate is None or self.rate.shape != m.shape:
            self.rate = m
        else:
            a = max(1.0 / self._diffs, min(1.0, dt / self.cfg.restless_tau_s) if dt > 0 else 0.0)
            cv2.accumulateWeighted(m, self.rate, a)
        self.calm = np.where(self.rate < self.cfg.restless_share, 255, 0).astype(np.uint8)

    # -- rules ----------------------------------------------------------------------------------

    def _rule(self, tr: ZoneTracker, f: float, m: float, t: float, frame: np.ndarray,
              grayf: np.ndarray) -> None:
        cfg = self.cfg
        if m >= cfg.motion_min_fraction:
            tr.last_motion = t
        if m >= cfg.burst_fraction:
            tr.last_burst = t
        moving = tr.last_motion == t
        quiet = t - tr.last_motion
        if not tr.occupied:
            if moving and tr.stash is not None and t <= tr.stash_until and self._recall(tr, grayf):
                return
            if f >= cfg.enter_fraction and moving:
                tr.occupied, tr.arrived_at, tr.occupant_level = True, t, f
                tr.motion_only = False
            elif f >= cfg.motion_min_fraction and quiet >= cfg.departed_still_s:
                self._absorb(tr, grayf, "static change in an empty zone", keep_stash=True)
            return
        if tr.motion_only:
            if f >= cfg.enter_fraction and moving:
                tr.motion_only, tr.occupant_level = False, f
            elif quiet >= cfg.still_timeout_s and not self._person_seen(tr, frame):
                tr.occupied = tr.motion_only = False
            return
        if t - tr.arrived_at <= self.confirm_s + cfg.arrival_quiet_s and quiet >= cfg.arrival_quiet_s:
            # an "arrival" that stopped dead at once: a light or a shadow, not a person
            self._absorb(tr, grayf, "step change without motion (light?)")
            tr.occupied = False
            return
        if f < cfg.leave_fraction:
            tr.occupied = False
            return
        if moving:
            # the occupant's size, learned while they move
            tr.occupant_level += min(1.0, self._dt / OCCUPANT_TAU_S) * (f - tr.occupant_level)
        shrunk = f < cfg.shrink_ratio * tr.occupant_level
        # people leave by standing up and walking away: a big movement, then nothing moves
        walked_off = tr.burst_crossed_edge and tr.last_burst >= tr.last_motion - BURST_TO_STILL_S
        departed = shrunk or walked_off
        timeout = cfg.departed_still_s if departed else cfg.still_timeout_s
        if quiet >= timeout:
            if not departed and self._person_seen(tr, frame):
                tr.last_motion = t
                return
            why = ("occupant shrank, furniture remains" if shrunk else
                   "big movement then stillness: occupant walked off" if walked_off else
                   f"no motion for {cfg.still_timeout_s:.0f} s")
            self._absorb(tr, grayf, why)
            tr.occupied = False

    def _recall(self, tr: ZoneTracker, grayf: np.ndarray) -> bool:
        """Motion where leftovers were absorbed: furniture does not move by itself. If the
        zone differs enough from the background from before, someone is there: restore it."""
        assert tr.stash is not None
        ys, xs = tr.raster.slices
        diff = cv2.absdiff(grayf[ys, xs], tr.stash)
        fg = cv2.threshold(diff, self.cfg.fg_threshold, 255, cv2.THRESH_BINARY)[1].astype(np.uint8)
        f = cv2.countNonZero(cv2.bitwise_and(fg, tr.raster.mask)) / tr.raster.area
        if f < self.cfg.enter_fraction:
            return False
        assert self.bg is not None
        cv2.copyTo(tr.stash, tr.raster.mask, self.bg[ys, xs])
        tr.stash = None
        tr.occupied, tr.arrived_at, tr.occupant_level, tr.motion_only = True, tr.arrived_at, f, False
        log.debug("zone %s: motion over absorbed leftovers, background before them restored",
                  tr.raster.zone.name)
        return True

    def _person_seen(self, tr: ZoneTracker, frame: np.ndarray) -> bool:
        if self.person_check is None or self._size is None or self._work is None:
            return False
        sx = self._size[0] / self._work[0]
        mh, mw = tr.raster.mask.shape
        box = (int(tr.raster.x * sx), int(tr.raster.y * sx), int(mw * sx), int(mh * sx))
        seen = bool(self.person_check(frame, box))
        log.debug("person check in %s: %s", tr.raster.zone.name, seen)
        return seen

    def _absorb(self, tr: ZoneTracker, grayf: np.ndarray, why: str, keep_stash: bool = False) -> None:
        """Make the zone's current look the background (minus other occupied zones). The
        background from before is kept for ``recall_s`` in case a person was absorbed."""
        assert self.bg is not None
        if not keep_stash or tr.stash is None:
            ys, xs = tr.raster.slices
            tr.stash = self.bg[ys, xs].copy()
            tr.stash_until = self._now + self.cfg.recall_s
        mask = tr.raster.full.copy()
        for other in self.trackers:
            if other is not tr and other.occupied:
                cv2.bitwise_and(mask, cv2.bitwise_not(other.raster.full), dst=mask)
        cv2.copyTo(grayf, mask, self.bg)
        self.absorbed += 1
        log.debug("zone %s absorbed into background: %s", tr.raster.zone.name, why)

    def _rebase(self, grayf: np.ndarray, t: float) -> None:
        """Most of the frame changed at once: lights. Start the background again."""
        self.bg = grayf.copy()
        self._bgmask = np.full(grayf.shape, 255, np.uint8)
        self.rebases += 1
        for tr in self.trackers:
            if tr.occupied:
                tr.motion_only = True
                tr.last_motion = t
        log.info("lighting changed across the frame: background re-based")
