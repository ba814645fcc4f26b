"""The camera agent's config tree (config/camera.toml), typed and strict."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from common.config import STRICT
from mqtt.client import BrokerConfig

from .errors import BadZone
from .zones import PresenceZone, check_polygon


class SourceConfig(BaseModel):
    model_config = STRICT
    uri: str = Field("0", description="'0' (device index), a video file, an image-sequence pattern "
                     "like /data/img_%04d.png, rtsp://... or 'picamera2'")
    fps: float = Field(5.0, gt=0, le=30, description="frames processed per second")
    width: int | None = Field(640, ge=64, le=4096, description="capture width asked of the camera")
    height: int | None = Field(480, ge=48, le=4096, description="capture height asked of the camera")
    reopen_min_s: float = Field(1.0, gt=0, le=60, description="first retry delay after the camera is lost")
    reopen_max_s: float = Field(30.0, gt=0, le=600, description="longest retry delay (backoff doubles up to it)")
    lost_after_s: float = Field(5.0, gt=0, le=300, description="no frame for this long: the camera is lost")

    @model_validator(mode="after")
    def _backoff(self) -> "SourceConfig":
        if self.reopen_max_s < self.reopen_min_s:
            raise ValueError(f"reopen_max_s ({self.reopen_max_s}) must be at least reopen_min_s ({self.reopen_min_s})")
        return self


class DetectionConfig(BaseModel):
    """Background model and the rules that turn foreground and motion into presence."""

    model_config = STRICT
    work_width: int = Field(320, ge=64, le=1280, description="frames are shrunk to this width first")
    fg_threshold: float = Field(20, ge=2, le=120, description="grey-level difference from the background that counts as foreground")
    motion_threshold: float = Field(6, ge=1, le=120, description="grey-level change between frames that counts as motion")
    motion_min_fraction: float = Field(0.002, gt=0, le=0.5, description="share of a zone that must move to count as motion")
    enter_fraction: float = Field(0.08, gt=0, le=1, description="foreground share of a zone for someone to arrive")
    leave_fraction: float = Field(0.03, gt=0, le=1, description="below this foreground share the zone is empty")
    background_tau_s: float = Field(60.0, gt=0, le=3600, description="time constant of the background following slow light changes")
    still_timeout_s: float = Field(60.0, gt=0, le=3600, description="foreground with no motion at all for this long is an object, not a person")
    departed_still_s: float = Field(1.0, gt=0, le=60, description="after the occupant's foreground shrank, stillness this long means they left")
    burst_fraction: float = Field(0.15, gt=0, le=1, description="share of a zone moving at once that counts as a big movement (standing up)")
    recall_s: float = Field(60.0, ge=0, le=3600, description="for this long after leftovers were absorbed, motion over them restores the background from before")
    shrink_ratio: float = Field(0.8, gt=0, lt=1, description="foreground below this share of the occupant's size counts as 'shrunk'")
    arrival_quiet_s: float = Field(0.75, gt=0, le=10, description="an arrival must keep moving: a step change that stops at once is light, not a person")
    global_change_fraction: float = Field(0.5, gt=0, le=1, description="when this share of the whole frame changes at once, re-base the background (lights)")
    person_check: Literal["none", "hog", "cascade"] = Field("none", description="optional person check before calling a still zone empty")
    cascade_path: Path | None = Field(None, description="Haar cascade XML for person_check='cascade' (default: OpenCV's upper body)")
    person_detector: Literal["face", "hog", "none"] = Field("face", description="person evidence: OpenCV's frontal-face cascade (default), HOG people detector, or none (change only)")
    detect_height: int = Field(240, ge=64, le=960, description="the region searched around a zone is scaled to this height (px) for the detector")
    recheck_s: float = Field(10.0, gt=0, le=3600, description="every zone is searched for a person this often even without motion")
    evidence_window_s: float = Field(1.0, gt=0, le=60, description="person hits are counted over this window")
    evidence_min_hits: int = Field(2, ge=1, le=20, description="hits within the window that make person evidence (one while it holds)")
    restless_share: float = Field(0.5, gt=0, le=1, description="pixels moving in more than this share of frames (a screen, leaves, a fan) are not counted as a person's change")
    restless_tau_s: float = Field(10.0, gt=0, le=3600, description="time constant of each pixel's share of moving frames")
    dark_level: float = Field(25.0, ge=0, le=255, description="a zone darker than this mean grey level is 'unknown' (too dark)")
    blocked_std: float = Field(4.0, ge=0, le=128, description="a zone with less grey-level spread than this is 'unknown' (view blocked)")
    frozen_s: float = Field(2.0, gt=0, le=600, description="identical frames for this long: the camera froze, every zone is 'unknown'")
    fault_after_s: float = Field(2.0, ge=0, le=600, description="a bad view must last this long before 'unknown' and a fault")
    fault_clear_s: float = Field(1.0, ge=0, le=600, description="a good view must last this long before the fault clears")

    @model_validator(mode="after")
    def _order(self) -> "DetectionConfig":
        if self.leave_fraction > self.enter_fraction:
            raise ValueError(f"leave_fraction ({self.leave_fraction}) must not exceed enter_fraction ({self.enter_fraction})")
        if self.departed_still_s > self.still_timeout_s:
            raise ValueError("departed_still_s must not exceed still_timeout_s")
        return self


class HoldConfig(BaseModel):
    model_config = STRICT
    enter_s: float = Field(1.0, ge=0, le=600, description="presence must hold this long before 'present'")
    leave_s: float = Field(2.0, ge=0, le=600, description="absence must hold this long before 'absent'")


class ZoneConfig(BaseModel):
    model_config = STRICT
    role: Literal["officer", "citizen"]
    polygon: list[tuple[float, float]] = Field(min_length=3, description="[[x, y], ...] relative to the frame, 0..1")

    @field_validator("polygon")
    @classmethod
    def _poly(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        try:
            check_polygon(v, "polygon")
        except BadZone as exc:
            raise ValueError(str(exc)) from None
        return v


class DeskConfig(BaseModel):
    model_config = STRICT
    desk: int = Field(ge=1, le=999, description="desk (quầy) number")
    zones: list[ZoneConfig] = Field(min_length=1, max_length=2)

    @model_validator(mode="after")
    def _roles(self) -> "DeskConfig":
        roles = [z.role for z in self.zones]
        if len(set(roles)) != len(roles):
            raise ValueError(f"desk {self.desk}: each role (officer, citizen) may have one zone only")
        return self


class ReportConfig(BaseModel):
    model_config = STRICT
    summary_interval_s: float = Field(300.0, ge=10, le=86400, description="periodic presence summary per desk")
    telemetry_interval_s: float = Field(60.0, ge=0, le=3600)


class CameraAgentConfig(BaseModel):
    model_config = STRICT
    site: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    device: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    state_dir: Path = Field(Path("/var/lib/motcua"), description="durable outbox lives here")
    snapshot_path: Path = Field(Path("/var/lib/motcua/camera-calibration.png"),
                                description="where `calibrate` writes its annotated snapshot")
    mqtt: BrokerConfig = Field(default_factory=BrokerConfig)
    source: SourceConfig = Field(default_factory=SourceConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    hold: HoldConfig = Field(default_factory=HoldConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    desks: list[DeskConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_desks(self) -> "CameraAgentConfig":
        nums = [d.desk for d in self.desks]
        if len(set(nums)) != len(nums):
            raise ValueError(f"desk numbers must be unique, got {nums}")
        return self

    def zones(self) -> list[PresenceZone]:
        return [PresenceZone(f"desk{d.desk}-{z.role}", tuple((x, y) for x, y in z.polygon), d.desk, z.role)
                for d in self.desks for z in d.zones]
