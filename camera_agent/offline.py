"""Offline tools: replay a recorded source as fast as possible, and score it against labels.

Recorded frames are timed as ``frame / fps``, so hold times mean the same as live.
"""
from __future__ import annotations

import csv
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .config import DetectionConfig, HoldConfig
from .errors import BadLabels, SourceUnavailable
from .presence import PresencePipeline
from .sources import OpenCVSource
from .zones import PresenceZone

log = logging.getLogger(__name__)


@dataclass
class ChangeLine:
    frame: int
    t: float
    zone: str
    present: bool | None  # None: unknown (view blocked, too dark, camera froze)

    def as_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "t": round(self.t, 3), "zone": self.zone, "present": self.present}


@dataclass
class ReplayResult:
    frames: int
    ms_per_frame: float
    decode_ms_per_frame: float
    changes: list[ChangeLine]
    states: dict[str, list[bool | None]] = field(default_factory=dict)  # per zone, per frame

    def summary(self) -> dict[str, Any]:
        return {"frames": self.frames, "ms_per_frame": round(self.ms_per_frame, 3),
                "decode_ms_per_frame": round(self.decode_ms_per_frame, 3)}


def replay(source: str, fps: float, zones: Sequence[PresenceZone], *,
           detection: DetectionConfig | None = None, hold: HoldConfig | None = None,
           on_change: Callable[[ChangeLine], None] | None = None) -> ReplayResult:
    """Process every frame of a recorded source, timed as ``fps`` frames per second."""
    if fps <= 0:
        raise ValueError(f"fps must be above 0, got {fps}")
    if not (Path(source).exists() or "%" in source or "://" in source):
        raise SourceUnavailable(f"no such file: {source}")
    src = OpenCVSource(source)
    pipe = PresencePipeline(zones, detection, hold)
    states: dict[str, list[bool | None]] = {z.name: [] for z in zones}
    changes: list[ChangeLine] = []
    decode_s = 0.0
    i = 0
    try:
        while True:
            t0 = time.perf_counter()
            frame = src.read()
            decode_s += time.perf_counter() - t0
            if frame is None:
                break
            for c in pipe.process(frame, i / fps):
                line = ChangeLine(i, i / fps, c.zone.name, c.present)
                changes.append(line)
                if on_change:
                    on_change(line)
            for z in zones:
                states[z.name].append(pipe.present(z))
            i += 1
    finally:
        src.close()
    if i == 0:
        raise SourceUnavailable(f"{source}: no frame could be decoded")
    return ReplayResult(i, pipe.ms_per_frame, 1000 * decode_s / i, changes, states)


# -- evaluation -------------------------------------------------------------------------------

def load_labels(path: str | Path, frames: int, zones: Sequence[str]) -> dict[str, list[bool | None]]:
    """Per-frame truth per zone from ``start_frame,end_frame,present[,zone]`` rows (inclusive
    ranges, '#' comments). Rows without a zone apply to every zone."""
    truth: dict[str, list[bool | None]] = {z: [None] * frames for z in zones}
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadLabels(f"cannot read labels {p}: {exc}") from None
    rows = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(rows)
    need = {"start_frame", "end_frame", "present"}
    if not reader.fieldnames or not need <= set(reader.fieldnames):
        raise BadLabels(f"{p}: header must be start_frame,end_frame,present[,zone], got {reader.fieldnames}")
    for n, row in enumerate(reader, 2):
        try:
            a, b, v = int(row["start_frame"]), int(row["end_frame"]), int(row["present"])
        except (TypeError, ValueError):
            raise BadLabels(f"{p}: data row {n - 1}: start_frame, end_frame and present must be integers") from None
        if v not in (0, 1) or b < a:
            raise BadLabels(f"{p}: data row {n - 1}: need start_frame <= end_frame and present 0 or 1")
        targets = [row["zone"]] if row.get("zone") else list(zones)
        for z in targets:
            if z not in truth:
                continue
            for f in range(max(a, 0), min(b, frames - 1) + 1):
                truth[z][f] = bool(v)
    return truth


def _true_changes(truth: list[bool | None]) -> list[tuple[int, bool]]:
    out = []
    for i in range(1, len(truth)):
        if truth[i] is not None and truth[i - 1] is not None and truth[i] != truth[i - 1]:
            out.append((i, bool(truth[i])))
    return out


def score_zone(pred: list[bool | None], truth: list[bool | None], changes: list[ChangeLine], fps: float,
               tolerance_s: float = 3.0) -> dict[str, Any]:
    """Frame-level precision/recall/F1 (frames within ``tolerance_s`` of a true change are not
    scored) and, for each true change, the delay of the first matching detected change."""
    tol = int(round(tolerance_s * fps))
    true_changes = _true_changes(truth)
    near = [False] * len(truth)
    for c, _ in true_changes:
        for i in range(max(0, c - tol), min(len(truth), c + tol + 1)):
            near[i] = True
    tp = fp = fn = tn = 0
    for i, (p, t) in enumerate(zip(pred, truth)):
        if t is None or near[i]:
            continue
        if p and t:
            tp += 1
        elif p:
            fp += 1
        elif t:
            fn += 1
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else (1.0 if not fn else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    delays = []
    for k, (c, value) in enumerate(true_changes):
        nxt = true_changes[k + 1][0] if k + 1 < len(true_changes) else len(truth)
        hit = next((ch for ch in changes if ch.present == value and c - tol <= ch.frame < nxt), None)
        delay = None if hit is None else (hit.frame - c) / fps
        delays.append({"frame": c, "present": value,
                       "detected_frame": None if hit is None else hit.frame,
                       "delay_s": None if delay is None else round(delay, 3),
                       "within_tolerance": delay is not None and abs(delay) <= tolerance_s})
    false_changes = len(changes) - sum(1 for d in delays if d["detected_frame"] is not None)
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "scored_frames": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "changes": delays, "extra_changes": max(0, false_changes)}


def evaluate(source: str, fps: float, zones: Sequence[PresenceZone], labels: str | Path, *,
             detection: DetectionConfig | None = None, hold: HoldConfig | None = None,
             tolerance_s: float = 3.0) -> dict[str, Any]:
    result = replay(source, fps, zones, detection=detection, hold=hold)
    truth = load_labels(labels, result.frames, [z.name for z in zones])
    per_zone = {}
    for z in zones:
        mine = [c for c in result.changes if c.zone == z.name]
        per_zone[z.name] = score_zone(result.states[z.name], truth[z.name], mine, fps, tolerance_s)
    return {"zones": per_zone, "tolerance_s": tolerance_s, "fps": fps, **result.summary()}


def iter_report(report: dict[str, Any]) -> Iterator[str]:
    """Human-readable lines of an evaluation (the CLI prints them before the JSON line)."""
    for name, z in report["zones"].items():
        yield (f"zone {name}: precision {z['precision']:.3f}  recall {z['recall']:.3f}  "
               f"F1 {z['f1']:.3f}  ({z['scored_frames']} frames scored, "
               f"{report['tolerance_s']:g} s around true changes skipped)")
        for d in z["changes"]:
            what = "arrive" if d["present"] else "leave"
            if d["detected_frame"] is None:
                yield f"  true {what} at frame {d['frame']}: NOT detected"
            else:
                yield (f"  true {what} at frame {d['frame']}: detected at frame {d['detected_frame']} "
                       f"(delay {d['delay_s']:+.2f} s)")
        if z["extra_changes"]:
            yield f"  {z['extra_changes']} detected change(s) matched no true change"
    yield (f"{report['frames']} frames, {report['ms_per_frame']:.2f} ms per frame "
           f"(decoding {report['decode_ms_per_frame']:.2f} ms)")
