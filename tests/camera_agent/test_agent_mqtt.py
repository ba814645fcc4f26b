"""The live agent against a real private Mosquitto: presence events through the outbox,
retained per-desk state, camera faults, telemetry rates, and no image data anywhere."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from camera_agent.agent import CameraAgent, MqttSink
from camera_agent.config import CameraAgentConfig
from camera_agent.sources import CameraSupervisor
from common.clock import FakeClock
from common.config import parse_config
from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox
from mqtt.schemas import parse_event, parse_model, PresenceState
from tests.support.mqtt import Recorder

from camera_agent.synthetic import SEAT, SEATED_AT, Scene, seated_positions, walk

SITE, DEVICE, FPS = "camau-hcc", "cam-01", 5.0
IMAGE_WORDS = {"image", "img", "thumb", "thumbnail", "jpeg", "jpg", "png", "snapshot", "face", "faces",
               "pixels", "b64", "base64", "crop"}


class ScriptedCamera:
    """Frames of a scripted scene at FPS on the injected clock; None while 'unplugged'."""

    def __init__(self, script: list[dict | None], clock: FakeClock):
        self.scene = Scene(seed=9)
        self.script = script
        self.clock = clock
        self.t0 = clock.monotonic()

    def read(self) -> np.ndarray | None:
        i = int(round((self.clock.monotonic() - self.t0) * FPS))
        item = self.script[min(i, len(self.script) - 1)]
        return None if item is None else self.scene.frame(**item)

    def close(self) -> None:
        pass


def assert_no_image_data(topic: str, payload: bytes) -> None:
    assert len(payload) < 4096, f"{topic}: {len(payload)} bytes is too big for a summary"
    for magic in (b"\xff\xd8\xff", b"\x89PNG", b"data:image", b"/9j/", b"iVBOR"):
        assert magic not in payload, f"{topic} carries image bytes"
    doc = json.loads(payload)

    def walk_doc(x: Any, path: str) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                words = set(k.lower().split("_"))
                assert k != "frame" and not words & IMAGE_WORDS, f"{topic}: key {path}.{k}"
                walk_doc(v, f"{path}.{k}")
        elif isinstance(x, list):
            assert len(x) <= 16, f"{topic}: list {path} of {len(x)} items"
            for i, v in enumerate(x):
                walk_doc(v, f"{path}[{i}]")
        elif isinstance(x, str):
            assert len(x) <= 200, f"{topic}: long string at {path}"

    walk_doc(doc, "")


def test_agent_publishes_presence_state_faults_and_never_an_image(tmp_path: Path, broker):
    cfg = parse_config(f"""
site = "{SITE}"
device = "{DEVICE}"
[report]
summary_interval_s = 30
telemetry_interval_s = 0.3
[[desks]]
desk = 4
zones = [{{ role = "officer", polygon = {[list(p) for p in SEAT]} }}]
""", CameraAgentConfig)
    rng = np.random.default_rng(21)
    script: list[dict | None] = [{} for _ in range(30)]
    script += [dict(person=p) for p in walk((330, SEATED_AT[1]), SEATED_AT, 12)]
    script += [dict(person=p) for p in seated_positions(rng, 60, FPS, 3.0)]
    script += [None] * 40  # the camera is unplugged for 8 s
    script += [dict(person=SEATED_AT)] * 20

    rec = Recorder(broker.port, "motcua/v1/#")
    clock = FakeClock(datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))
    outbox = Outbox(tmp_path / "outbox.db", SITE, DEVICE, clock=clock)
    holder: dict[str, CameraAgent] = {}
    client = DeviceClient(SITE, DEVICE, "camera-agent", BrokerConfig(url=broker.url), outbox=outbox,
                          telemetry_interval_s=0.3,
                          telemetry_extra=lambda: holder["a"].telemetry_extra() if holder else {})
    cam = ScriptedCamera(script, clock)
    sup = CameraSupervisor(lambda: cam, clock, lambda on, d: holder["a"].on_camera_fault(on, d),
                           reopen_min_s=0.5, reopen_max_s=2.0, lost_after_s=2.0)
    agent = holder["a"] = CameraAgent(cfg, sup, clock, MqttSink(client, outbox))
    client.start()
    try:
        assert client.wait_connected(10)
        agent.publish_states()
        for _ in range(len(script) + 10):
            clock.advance(1 / FPS)
            agent.step()
        clock.advance(30)
        agent.maybe_summarise()
        assert client.flush(10)
        state_topic = topics.device_state(SITE, DEVICE, "presence", 4)
        assert rec.wait_for(lambda ms: any("/telemetry" in t and b"ms_per_frame" in p for t, p, _ in ms), 10)
        assert rec.wait_for(lambda ms: sum(1 for t, *_ in ms if t.endswith("/evt/fault")) >= 2, 10)
    finally:
        client.stop()
        outbox.close()
        rec.close()

    msgs = list(rec.messages)
    for t, p, _ in msgs:
        assert_no_image_data(t, p)
    events = [parse_event(t, p) for t, p, _ in msgs if "/evt/" in t]
    presence = [e.data for e in events if e.type == "presence"]
    changes = [d for d in presence if d["kind"] == "change"]
    assert [(d["desk"], d["zone"], d["present"]) for d in changes] == [(4, "officer", True)]
    summary = [d for d in presence if d["kind"] == "summary"]
    assert summary and 0 < summary[0]["occupied_share"] <= 1 and summary[0]["changes"] == 1
    faults = [e.data for e in events if e.type == "fault"]
    assert [(f["code"], f["active"]) for f in faults] == [("camera_lost", True), ("camera_lost", False)]
    assert faults[0]["message_vi"] and faults[0]["message_en"]
    states = [parse_model(PresenceState, p) for t, p, _ in msgs if t == state_topic]
    assert states[-1].officer is True and states[-1].citizen is None
    tele = [json.loads(p) for t, p, _ in msgs if t.endswith("/telemetry")]
    assert {"fps", "ms_per_frame"} <= set(tele[-1]["extra"])

    # a dashboard that starts now still gets the desk's state: it is retained
    late = Recorder(broker.port, topics.device_state_filter(SITE, "presence"))
    try:
        assert late.wait_for(lambda ms: any(r for *_, r in ms), 5)
        assert json.loads(late.messages[-1][1])["officer"] is True
    finally:
        late.close()
