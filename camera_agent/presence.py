"""Presence per zone after hold times, and periodic summaries per zone.

:class:`PresencePipeline` is what both the live agent and the offline tools drive: one frame
and its time in, the confirmed state changes out.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np

from .config import DetectionConfig, HoldConfig
from .detector import PersonCheck, SceneModel, ZoneReading
from .evidence import PersonDetector, ZoneEvidence, detect_in_zone, make_detector
from .health import HealthWatch, ViewFault
from .zones import PresenceZone

log = logging.getLogger(__name__)

# the motion gate: a zone not occupied is searched for a person when this share of it moves and
# this share differs from the background (restless pixels excluded from both)
GATE_MOTION = 0.02
GATE_FOREGROUND = 0.03


class ZoneChange(NamedTuple):
    """A confirmed change: ``since`` is when the evidence began, ``at`` when the hold ended.
    ``present`` is None when the zone became unknown (view blocked, too dark, camera froze)."""

    zone: PresenceZone
    present: bool | None
    since: float
    at: float


@dataclass
class HoldState:
    """A state that changes only after the new evidence held for ``enter_s`` / ``leave_s``."""

    enter_s: float
    leave_s: float
    present: bool = False
    since: float | None = None
    pending_since: float | None = None

    def update(self, raw: bool, t: float) -> bool:
        """Feed the raw evidence at time ``t``; True when the confirmed state changed."""
        if self.since is None:
            self.since = t
        if raw == self.present:
            self.pending_since = None
            return False
        if self.pending_since is None:
            self.pending_since = t
        hold = self.enter_s if raw else self.leave_s
        if t - self.pending_since + 1e-9 >= hold:
            self.present, self.since, self.pending_since = raw, self.pending_since, None
            return True
        return False


@dataclass
class ZoneSummary:
    """Share of a window a zone was occupied and how often it changed."""

    zone: PresenceZone
    present: bool | None
    since: float
    window_s: float
    occupied_share: float
    changes: int


@dataclass
class SummaryWindow:
    """Accumulates occupied time per zone between two summaries."""

    start: float
    occupied: dict[str, float] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)
    marks: dict[str, tuple[float, bool]] = field(default_factory=dict)

    def record(self, name: str, present: bool, since: float) -> None:
        """A zone changed to ``present`` at ``since``."""
        mark, was = self.marks.get(name, (self.start, False))
        since = max(since, self.start, mark)
        if was:
            self.occupied[name] = self.occupied.get(name, 0.0) + since - mark
        self.marks[name] = (since, present)
        self.changes[name] = self.changes.get(name, 0) + 1

    def close(self, name: str, present: bool, now: float) -> tuple[float, int]:
        mark, _ = self.marks.get(name, (self.start, present))
        occ = self.occupied.get(name, 0.0) + (now - max(mark, self.start) if present else 0.0)
        span = max(now - self.start, 1e-9)
        return min(1.0, max(0.0, occ / span)), self.changes.get(name, 0)


class PresencePipeline:
    """Frames in, confirmed per-zone presence changes out.

    >>> p = PresencePipeline([PresenceZone("seat", ((0.4, 0.3), (0.7, 0.3), (0.7, 1), (0.4, 1)))])
    >>> changes = p.process(frame, t=12.5)
    """

    def __init__(self, zones: Sequence[PresenceZone], detection: DetectionConfig | None = None,
                 hold: HoldConfig | None = None, *, person_check: PersonCheck | None = None,
                 detector: PersonDetector | None | str = "config"):
        if not zones:
            raise ValueError("at least one zone is needed")
        names = [z.name for z in zones]
        if len(set(names)) != len(names):
            raise ValueError(f"zone names must be unique, got {names}")
        self.zones = list(zones)
        self.hold = hold or HoldConfig()
        self.scene = SceneModel(zones, detection, confirm_s=self.hold.enter_s, person_check=person_check)
        self.states = [HoldState(self.hold.enter_s, self.hold.leave_s) for _ in zones]
        self.readings: list[ZoneReading] = []
        cfg = self.scene.cfg
        self.detector: PersonDetector | None = (make_detector(cfg.person_detector) if isinstance(detector, str)
                                                else detector)
        self.evidence = [ZoneEvidence(cfg.evidence_window_s, cfg.evidence_min_hits, cfg.recheck_s) for _ in zones]
        self.health = HealthWatch(names, cfg)
        self.reported: list[bool | None] = [False for _ in zones]
        self.faults: list[ViewFault] = []  # raised or cleared by the last frame
        self.detect_s = 0.0
        self.frames = 0
        self.busy_s = 0.0
        self._window: SummaryWindow | None = None

    def process(self, frame: np.ndarray, t: float) -> list[ZoneChange]:
        started = time.perf_counter()
        self.readings = self.scene.process(frame, t)
        self.faults = self._check_health(t)
        changes = []
        for i, (zone, state, reading) in enumerate(zip(self.zones, self.states, self.readings)):
            person = self._person(i, frame, reading, t)
            state.update(reading.occupied or person, t)
            now: bool | None = None if self.health.unknown(zone.name) else state.present
            if now != self.reported[i]:
                self.reported[i] = now
                since = state.since if now is not None and state.since is not None else t
                changes.append(ZoneChange(zone, now, since, t))
        if self._window is None:
            self._window = SummaryWindow(t)
        for c in changes:
            self._window.record(c.zone.name, bool(c.present), c.since)
            log.info("zone %s: %s", c.zone.name, {True: "present", False: "absent", None: "unknown"}[c.present])
        self.frames += 1
        self.busy_s += time.perf_counter() - started
        return changes

    def _person(self, i: int, frame: np.ndarray, reading: ZoneReading, t: float) -> bool:
        """Person evidence for zone ``i``: run the detector when it is due, then judge the hits."""
        ev = self.evidence[i]
        if self.detector is None:
            return False
        gate = reading.motion >= GATE_MOTION and reading.foreground >= GATE_FOREGROUND
        if ev.due(t, gate, reading.occupied):
            started = time.perf_counter()
            ev.record(t, detect_in_zone(self.detector, frame, self.zones[i], self.scene.cfg.detect_height))
            self.detect_s += time.perf_counter() - started
        return ev.present(t)

    def _check_health(self, t: float) -> list[ViewFault]:
        gray = self.scene.gray
        if gray is None or not self.scene.trackers:
            return []
        crops = {}
        for tr in self.scene.trackers:
            ys, xs = tr.raster.slices
            crops[tr.raster.zone.name] = (gray[ys, xs], tr.raster.mask)
        return self.health.check(gray, crops, t)

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.busy_s / self.frames if self.frames else 0.0

    def present(self, zone: PresenceZone) -> bool | None:
        """The reported state: True, False, or None while the zone is unknown."""
        return self.reported[self.zones.index(zone)]

    def since(self, zone: PresenceZone) -> float | None:
        return self.states[self.zones.index(zone)].since

    def summarise(self, now: float) -> list[ZoneSummary]:
        """Close the current window (since the last summary) and start a new one."""
        win = self._window or SummaryWindow(now)
        out = []
        for zone, state in zip(self.zones, self.states):
            share, changes = win.close(zone.name, state.present, now)
            out.append(ZoneSummary(zone, self.present(zone), state.since if state.since is not None else now,
                                   max(now - win.start, 0.0), share, changes))
        self._window = SummaryWindow(now)
        for zone, state in zip(self.zones, self.states):
            self._window.marks[zone.name] = (now, state.present)
        return out
