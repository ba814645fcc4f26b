"""Updates in waves, the decisions only (no MQTT, no database): ask N devices, wait until each
says ``updated``/``current`` for *this* command, then the next N; stop at the first device that
failed or rolled back (or did not answer in time) and say why. Used by the dashboard's update
form (collector/web/fleet.py) and by ``motcua update-devices`` (ops/fleet.py)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Literal
from zoneinfo import ZoneInfo

from mqtt.schemas import UpdateCommand, UpdateState

HEALTHY = ("updated", "current")
FINAL = ("current", "updated", "rolled-back", "failed")
TZ = ZoneInfo("Asia/Ho_Chi_Minh")

StateOf = Callable[[str], "UpdateState | None"]
Send = Callable[[str, UpdateCommand], None]


def waves_of(devices: list[str], size: int) -> list[list[str]]:
    size = max(1, size)
    return [devices[i:i + size] for i in range(0, len(devices), size)]


@dataclass
class Rollout:
    """``step(state_of, send)`` as often as you like (each new state, or a timer): it sends the
    current wave's commands (again every ``resend_s`` to a device that has not taken it: a
    command is not retained), and moves on or stops."""

    devices: list[str]
    size: int
    version: str | None = None
    resend_s: float = 10.0
    timeout_s: float = 600.0
    wave: int = 0  # index of the wave under way
    status: Literal["running", "done", "stopped"] = "running"
    reason: str = ""
    failed: str | None = None  # the device that stopped the rollout
    cmds: dict[str, UpdateCommand] = field(default_factory=dict)
    asked: dict[str, float] = field(default_factory=dict)
    started: float | None = None  # monotonic time the current wave began
    sent: list[list[str]] = field(default_factory=list)  # the waves asked so far, in order

    @property
    def waves(self) -> list[list[str]]:
        return waves_of(self.devices, self.size)

    def seen(self, device: str, state_of: StateOf) -> UpdateState | None:
        st = state_of(device)
        cmd = self.cmds.get(device)
        return st if st is not None and cmd is not None and st.command == cmd.id else None

    def _start_wave(self, now: float) -> None:
        self.started = now
        self.sent.append(list(self.waves[self.wave]))
        for d in self.waves[self.wave]:
            self.cmds[d] = UpdateCommand(version=self.version, ts=datetime.now(TZ))

    def step(self, state_of: StateOf, send: Send, now: float | None = None) -> str:
        """Returns the status after this step."""
        now = time.monotonic() if now is None else now
        while self.status == "running":
            if not self.waves:
                self.status, self.reason = "done", "không có thiết bị / no devices"
                break
            if self.started is None:
                self._start_wave(now)
            wave = self.waves[self.wave]
            states = {d: self.seen(d, state_of) for d in wave}
            for d, st in states.items():
                if st is not None and st.state in FINAL and st.state not in HEALTHY:
                    self.status, self.failed = "stopped", d
                    self.reason = f"{d}: {st.state} ({st.version} → {st.target or '?'}) {st.detail}".strip()
                    return self.status
            if all(st is not None and st.state in HEALTHY for st in states.values()):
                self.wave += 1
                self.started = None
                if self.wave >= len(self.waves):
                    self.status = "done"
                    self.reason = f"đã cập nhật {len(self.devices)} thiết bị / {len(self.devices)} devices updated"
                continue
            if self.started is not None and now - self.started > self.timeout_s:
                late = [d for d, st in states.items() if st is None or st.state not in FINAL]
                self.status, self.failed = "stopped", late[0]
                self.reason = f"{late[0]}: không trả lời trong {self.timeout_s:.0f} s / no answer in {self.timeout_s:.0f} s"
                return self.status
            for d in wave:
                if states[d] is None and now - self.asked.get(d, -1e18) >= self.resend_s:
                    send(d, self.cmds[d])
                    self.asked[d] = now
            break
        return self.status
