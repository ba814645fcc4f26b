"""The technician's calibration snapshot: one frame with the zones drawn, saved on the device.

This is the only image the agent ever writes, and it is never published."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .errors import CameraAgentError, SourceUnavailable
from .evidence import Detection, PersonDetector, detect_in_zone
from .sources import FrameSource
from .zones import PresenceZone

log = logging.getLogger(__name__)

ROLE_COLOURS = {"officer": (0, 200, 255), "citizen": (255, 160, 0), None: (0, 255, 0)}


def annotate(frame: np.ndarray, zones: Sequence[PresenceZone],
             evidence: dict[str, list[Detection]] | None = None) -> np.ndarray:
    """A copy of ``frame`` with each zone's outline, a light fill and its name, and the person
    boxes found for each zone (with their scores), so a technician sees why a zone reads present."""
    img = frame.copy() if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    h, w = img.shape[:2]
    overlay = img.copy()
    for z in zones:
        colour = ROLE_COLOURS.get(z.role, (0, 255, 0))
        cv2.fillPoly(overlay, [z.pixels(w, h)], colour)
    img = cv2.addWeighted(overlay, 0.2, img, 0.8, 0)
    scale = max(0.3, w / 1600)
    for z in zones:
        colour = ROLE_COLOURS.get(z.role, (0, 255, 0))
        pts = z.pixels(w, h)
        cv2.polylines(img, [pts], True, colour, max(1, w // 320))
        x, y = pts[:, 0, 0].min(), pts[:, 0, 1].min()
        # cv2.putText has no Vietnamese glyphs: the label on the picture is ASCII, the CLI
        # prints the full Vietnamese/English names next to the file path
        text = z.name if z.desk is None else f"desk {z.desk} {z.role}"
        cv2.putText(img, text, (int(x) + 2, int(y) + int(14 * scale / 0.4)), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, colour, 1, cv2.LINE_AA)
    for name, dets in (evidence or {}).items():
        for d in dets:
            cv2.rectangle(img, (d.x, d.y), (d.x + d.w, d.y + d.h), (0, 0, 255), max(1, w // 320))
            bx, by, bw, bh = d.body()
            cv2.rectangle(img, (bx, by), (bx + bw, by + bh), (0, 0, 160), 1)
            cv2.putText(img, f"{d.kind} {d.score:.1f}", (d.x, max(8, d.y - 2)), cv2.FONT_HERSHEY_SIMPLEX,
                        scale, (0, 0, 255), 1, cv2.LINE_AA)
    return img


def find_evidence(frame: np.ndarray, zones: Sequence[PresenceZone], detector: PersonDetector | None,
                  region_height: int) -> dict[str, list[Detection]]:
    """The person boxes that count for each zone on this frame (what the agent would see)."""
    if detector is None:
        return {z.name: [] for z in zones}
    return {z.name: detect_in_zone(detector, frame, z, region_height) for z in zones}


def snapshot(source: FrameSource, zones: Sequence[PresenceZone], path: str | Path,
             warmup_frames: int = 5, detector: PersonDetector | None = None,
             region_height: int = 240) -> tuple[Path, dict[str, list[Detection]]]:
    """Read a few frames (cameras adjust exposure first), annotate the last, write a PNG."""
    frame = None
    for _ in range(max(1, warmup_frames)):
        got = source.read()
        if got is None:
            break
        frame = got
    if frame is None:
        raise SourceUnavailable("the camera gave no frame for the calibration snapshot")
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise CameraAgentError(f"calibration snapshot must be a .png file, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    evidence = find_evidence(frame, zones, detector, region_height)
    if not cv2.imwrite(str(out), annotate(frame, zones, evidence)):
        raise CameraAgentError(f"could not write {out}: check the folder exists and is writable")
    log.info("calibration snapshot written to %s", out)
    return out, evidence
