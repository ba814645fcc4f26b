"""The device registry the server roles trust: what each broker login is (its role) and where
(its desk, or a camera's or kiosk's desks).

``motcua provision-device`` writes it (``/etc/motcua/devices.toml``) next to the device's
broker credentials; ``ticketing`` and the ``collector`` load it at start (a bad file refuses to
start, naming file and line) and re-read it when it changes (a bad new version is logged and
the last good one kept), so a device provisioned while they run is known at once::

    site = "camau-hcc"

    [devices.rt-05]
    role = "rating-terminal"
    desk = 5

    [devices.cam-01]
    role = "camera"
    desks = [5, 6]

The device id is the broker user name, which the ACL binds to the device's own topics: the
registry is looked up with the device of the topic, never with a payload field.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from mqtt.topics import ID_PATTERN

from .config import STRICT, load_config
from .errors import ConfigError

log = logging.getLogger(__name__)

RoleName = Literal["rating-terminal", "kiosk", "display", "camera", "ticketing", "collector", "portal", "console"]
DESK_ROLES = ("rating-terminal",)  # exactly one desk
MULTI_DESK_ROLES = ("camera", "kiosk", "console")  # console: the desks it may act for (none: every desk)  # a list of desks (a camera: one or more, required)
RELOAD_CHECK_S = 1.0


class DeviceEntry(BaseModel):
    """One device: its role and its desk(s)."""

    model_config = STRICT
    role: RoleName
    desk: int | None = Field(None, ge=1, le=999, description="a rating terminal's desk")
    desks: list[int] = Field(default_factory=list, description="a camera's (or kiosk's) desks")

    @model_validator(mode="after")
    def _desks(self) -> "DeviceEntry":
        if self.role in DESK_ROLES and self.desk is None:
            raise ValueError(f"a {self.role} needs its desk: desk = N")
        if self.role not in DESK_ROLES and self.desk is not None:
            raise ValueError(f"a {self.role} has no single desk; use desks = [...] for a camera or kiosk")
        if self.role == "camera" and not self.desks:
            raise ValueError("a camera needs the desks it watches: desks = [5, 6]")
        if self.desks and self.role not in MULTI_DESK_ROLES:
            raise ValueError(f"a {self.role} has no desks list")
        if any(not 1 <= d <= 999 for d in self.desks):
            raise ValueError("desk numbers run from 1 to 999")
        return self

    def watches(self, desk: int) -> bool:
        """True when this device speaks for `desk`: its own desk, or one of its desks."""
        return self.desk == desk or desk in self.desks


class RegistryFile(BaseModel):
    model_config = STRICT
    site: str = Field(pattern=ID_PATTERN)
    devices: dict[str, DeviceEntry] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ids(self) -> "RegistryFile":
        bad = [d for d in self.devices if not re.match(ID_PATTERN, d)]
        if bad:
            raise ValueError(f"device id(s) {', '.join(map(repr, bad))} are not 1-32 lower-case letters, "
                             "digits and '-'")
        return self


class Registry:
    """The loaded registry, re-read when the file changes.

    >>> reg = Registry.load("/etc/motcua/devices.toml")
    >>> reg.get("rt-05").desk
    5
    """

    def __init__(self, path: Path, data: RegistryFile):
        self.path = path
        self._data = data
        self._mtime = self._stat()
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path) -> "Registry":
        """Load or raise ConfigError naming file, line and key."""
        p = Path(path)
        if not p.exists():
            raise ConfigError(str(p), [f"{p}: sổ thiết bị không tồn tại / device registry not found; it is "
                                       "written by `motcua provision-device` (or `setup.sh --role server`)"])
        return cls(p, _load(p))

    @property
    def site(self) -> str:
        return self._data.site

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_S:
            return
        with self._lock:
            self._checked = now
            mtime = self._stat()
            if mtime == self._mtime:
                return
            self._mtime = mtime
            try:
                self._data = _load(self.path)
                log.info("device registry %s re-read: %d device(s)", self.path, len(self._data.devices))
            except ConfigError as exc:
                log.error("device registry %s changed but is not valid; keeping the last good one:\n%s",
                          self.path, exc)

    def reload(self) -> None:
        """Re-read now (tests, SIGHUP)."""
        self._checked = 0.0
        self._mtime = -1.0
        self._maybe_reload()

    def get(self, device: str | None) -> DeviceEntry | None:
        if device is None:
            return None
        self._maybe_reload()
        return self._data.devices.get(device)

    def role(self, device: str | None) -> str | None:
        entry = self.get(device)
        return entry.role if entry else None

    def devices(self) -> dict[str, DeviceEntry]:
        self._maybe_reload()
        return dict(self._data.devices)


def _load(path: Path) -> RegistryFile:
    """load_config, with the line of a device's [devices.<id>] table added where it found none."""
    try:
        return load_config(path, RegistryFile)
    except ConfigError as exc:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        fixed = []
        for problem in exc.problems:
            m = re.match(rf"^{re.escape(str(path))}: devices\.([a-z0-9-]+)", problem)
            at = next((i for i, line in enumerate(lines, 1) if m and re.match(
                rf"^\s*\[\s*devices\.\"?{re.escape(m.group(1))}\"?\s*\]", line)), None) if m else None
            fixed.append(problem.replace(f"{path}: ", f"{path}:{at}: ", 1) if at else problem)
        raise ConfigError(exc.path, fixed) from None


def load_registry(path: str | Path | None) -> Registry | None:
    """The registry at `path`, or None when no registry is configured (development: every
    device is trusted, and the caller says so in its log)."""
    return Registry.load(path) if path else None
