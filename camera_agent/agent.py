"""The live camera agent: frames in, presence events, retained desk state and summaries out.

Only numbers and booleans leave this module: no frame, thumbnail or face data is ever given
to a sink (tests check every published payload)."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from common.clock import Clock
from common.systemd import Notifier
from mqtt import topics
from mqtt.client import DeviceClient
from mqtt.errors import MqttCoreError
from mqtt.outbox import Outbox
from mqtt.schemas import FaultData, PresenceData, PresenceState

from .config import CameraAgentConfig
from .health import FAULT_TEXT as VIEW_FAULT_TEXT
from .presence import PresencePipeline, ZoneChange, ZoneSummary
from .zones import PresenceZone

log = logging.getLogger(__name__)

CAMERA_FAULT = "camera_lost"
FAULT_TEXT = {
    True: ("Mất tín hiệu camera, đang thử kết nối lại", "Camera lost, reconnecting"),
    False: ("Camera đã hoạt động trở lại", "Camera is back"),
}


class FrameReader(Protocol):
    """What the agent reads frames from (a CameraSupervisor, or a test double)."""

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class PresenceSink(Protocol):
    """Where the agent's output goes: durable events and retained per-desk state."""

    def event(self, type_: str, data: PresenceData | FaultData) -> None: ...

    def desk_state(self, state: PresenceState) -> None: ...


class MqttSink:
    """Events through the durable outbox; retained state on dev/{device}/state/presence/{desk},
    republished on every (re)connect so a restarted dashboard is never stale."""

    def __init__(self, client: DeviceClient, outbox: Outbox):
        self.client = client
        self.outbox = outbox
        self._states: dict[int, PresenceState] = {}
        self._lock = threading.Lock()
        client.on_connected.append(self.republish)

    def event(self, type_: str, data: PresenceData | FaultData) -> None:
        try:
            self.outbox.enqueue(type_, data)
        except MqttCoreError:
            log.exception("could not store a %s event in the outbox", type_)

    def desk_state(self, state: PresenceState) -> None:
        with self._lock:
            self._states[state.desk] = state
        self.client.publish_state(self._topic(state.desk), state)

    def republish(self) -> None:
        with self._lock:
            states = list(self._states.values())
        for s in states:
            self.client.publish_state(self._topic(s.desk), s)

    def _topic(self, desk: int) -> str:
        return topics.device_state(self.outbox.site, self.outbox.device, "presence", desk)


class CameraAgent:
    """Runs the presence pipeline on a frame reader, paced at ``source.fps``."""

    def __init__(self, cfg: CameraAgentConfig, camera: FrameReader, clock: Clock, sink: PresenceSink, *,
                 pipeline: PresencePipeline | None = None, notifier: Notifier | None = None):
        self.cfg = cfg
        self.camera = camera
        self.clock = clock
        self.sink = sink
        self.zones: list[PresenceZone] = cfg.zones()
        self.pipeline = pipeline or PresencePipeline(self.zones, cfg.detection, cfg.hold)
        self.notifier = notifier or Notifier(address="")
        self._started = clock.monotonic()
        self._next_summary = self._started + cfg.report.summary_interval_s
        self._fps = 0.0
        self._last_frame_t: float | None = None
        self._ms = 0.0
        self.camera_ok = True
        self._resync = False

    # -- wiring ---------------------------------------------------------------------------------

    def on_camera_fault(self, active: bool, detail: str) -> None:
        """CameraSupervisor callback: a durable fault event when lost, another when back."""
        vi, en = FAULT_TEXT[active]
        self.camera_ok = not active
        if not active:
            self._resync = True  # the camera may have moved or changed exposure meanwhile
        self.sink.event("fault", FaultData(code=CAMERA_FAULT, active=active, message_vi=vi,
                                           message_en=en, detail=detail))

    def telemetry_extra(self) -> dict[str, float | bool]:
        """For DeviceClient(telemetry_extra=...): rates, never pictures."""
        return {"fps": round(self._fps, 2), "ms_per_frame": round(self._ms, 2), "camera_ok": self.camera_ok}

    def _wall(self, mono: float) -> datetime:
        return self.clock.now() - timedelta(seconds=max(0.0, self.clock.monotonic() - mono))

    # -- work -----------------------------------------------------------------------------------

    def publish_states(self) -> None:
        """Retained state of every desk, from the pipeline's current states."""
        now = self.clock.now()
        for desk in self.cfg.desks:
            fields: dict[str, object] = {"desk": desk.desk, "ts": now}
            unknown = fields["unknown"] = []
            for z in self.zones:
                if z.desk == desk.desk:
                    since = self.pipeline.since(z)
                    fields[z.role or ""] = self.pipeline.present(z)
                    if self.pipeline.present(z) is None:
                        unknown.append(z.role)
                    fields[f"{z.role}_since"] = self._wall(since) if since is not None else now
            self.sink.desk_state(PresenceState.model_validate(fields))

    def step(self) -> list[ZoneChange]:
        """Read and process one frame (nothing when the camera gave none)."""
        frame = self.camera.read()
        if frame is None:
            return []
        t = self.clock.monotonic()
        if self._resync:
            self.pipeline.scene.restart()
            self._resync = False
        before = self.pipeline.busy_s
        changes = self.pipeline.process(frame, t)
        ms = 1000.0 * (self.pipeline.busy_s - before)
        self._ms = ms if self._last_frame_t is None else 0.9 * self._ms + 0.1 * ms
        if self._last_frame_t is not None and t > self._last_frame_t:
            rate = 1.0 / (t - self._last_frame_t)
            self._fps = rate if self._fps == 0 else 0.9 * self._fps + 0.1 * rate
        self._last_frame_t = t
        for c in changes:
            assert c.zone.desk is not None and c.zone.role is not None
            self.sink.event("presence", PresenceData(desk=c.zone.desk, zone=c.zone.role,  # type: ignore[arg-type]
                                                     kind="change", present=c.present,
                                                     since=self._wall(c.since)))
        for f in self.pipeline.faults:
            vi, en = VIEW_FAULT_TEXT[f.code]
            if not f.active:
                vi, en = f"Đã hết: {vi}", f"Cleared: {en}"
            self.sink.event("fault", FaultData(code=f.code, active=f.active, message_vi=vi, message_en=en,
                                               detail=f"{f.zone}: {f.detail}"))
        if changes:
            self.publish_states()
        return changes

    def maybe_summarise(self) -> list[ZoneSummary]:
        now = self.clock.monotonic()
        if now < self._next_summary:
            return []
        self._next_summary = now + self.cfg.report.summary_interval_s
        summaries = self.pipeline.summarise(now)
        for s in summaries:
            assert s.zone.desk is not None
            self.sink.event("presence", PresenceData(
                desk=s.zone.desk, zone=s.zone.role, kind="summary", present=s.present,  # type: ignore[arg-type]
                since=self._wall(s.since), window_s=max(s.window_s, 1e-3),
                occupied_share=round(s.occupied_share, 4), changes=s.changes))
        self.publish_states()
        return summaries

    def run(self, stop: threading.Event) -> None:
        """The working loop: READY after set-up, WATCHDOG only from here."""
        period = 1.0 / self.cfg.source.fps
        self.publish_states()
        self.notifier.ready("camera agent running")
        log.info("camera agent running: %d zone(s) at %.1f fps", len(self.zones), self.cfg.source.fps)
        while not stop.is_set():
            started = self.clock.monotonic()
            self.step()
            self.maybe_summarise()
            self.notifier.watchdog()
            stop.wait(max(0.0, period - (self.clock.monotonic() - started)))
        self.notifier.stopping()
