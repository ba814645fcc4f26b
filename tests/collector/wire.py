"""Helpers for the collector's tests and bench: envelopes, a publisher, a collector subprocess."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from mqtt import topics
from mqtt.schemas import uuid7
from tests.support.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
SITE = "camau-hcc"
VN = timezone(timedelta(hours=7))


def now_iso(offset_s: float = 0.0) -> str:
    return (datetime.now(VN) + timedelta(seconds=offset_s)).isoformat(timespec="milliseconds")


def envelope(type_: str, data: dict[str, Any], *, device: str = "rt-01", seq: int = 1, id_: str | None = None,
             site: str = SITE, ts: str | None = None) -> dict[str, Any]:
    return {"v": 1, "id": id_ or uuid7(), "seq": seq, "ts": ts or now_iso(), "clock_synced": True,
            "site": site, "device": device, "type": type_, "data": data}


def event(type_: str, data: dict[str, Any], **kw: Any) -> tuple[str, bytes]:
    env = envelope(type_, data, **kw)
    return topics.event(env["site"], env["device"], type_), json.dumps(env).encode()


def rating(desk: int = 1, score: int = 5, **kw: Any) -> tuple[str, bytes]:
    return event("rating", {"desk": desk, "score": score, "scale": 5, "ticket": "1001", "service": "HT",
                            "officer": "nv-0142", "misuse": False}, **kw)


def presence(desk: int, zone: str, present: bool, **kw: Any) -> tuple[str, bytes]:
    return event("presence", {"desk": desk, "zone": zone, "kind": "change", "present": present,
                              "since": now_iso()}, **kw)


class Publisher:
    """A bare paho client publishing at QoS 1 and waiting for PUBACK (what a device's outbox does)."""

    def __init__(self, port: int, client_id: str = ""):
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.c.max_inflight_messages_set(200)
        self.c.max_queued_messages_set(0)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def send(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)

    def send_many(self, msgs: list[tuple[str, bytes]], qos: int = 1) -> None:
        infos = [self.c.publish(t, p, qos=qos) for t, p in msgs]
        for i in infos:
            i.wait_for_publish(30)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


class CollectorProcess:
    """``python -m collector`` as a subprocess on a free port, killable with SIGKILL."""

    def __init__(self, broker_url: str, db: Path, site: str = SITE, client_id: str | None = None,
                 log: Path | None = None, extra: list[str] | None = None):
        self.broker_url, self.db, self.site = broker_url, db, site
        self.port = free_port()
        self.client_id = client_id or f"test-collector-{os.getpid()}-{self.port}"
        self.log = log or db.with_suffix(".log")
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "CollectorProcess":
        """Start and wait until its health says MQTT is connected: a ceiling, not a figure (60 s: a loaded CI
        machine runs three test workers, each with its own brokers and browsers)."""
        env = dict(os.environ, PYTHONPATH=str(ROOT), MOTCUA_LOG="INFO")
        env.pop("NOTIFY_SOCKET", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector", "--broker", self.broker_url, "--db", str(self.db), "--http",
             f"127.0.0.1:{self.port}", "--site", self.site, "--client-id", self.client_id, *self.extra],
            cwd=ROOT, env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            try:
                h = httpx.get(f"{self.url}/api/health", timeout=1).json()
                if h.get("mqtt_connected"):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"collector not ready within {timeout}s: {self.log.read_text()[-3000:]}")

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/api/health", timeout=5).json()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_stored(self, table: str, n: int, timeout: float = 30.0) -> int:
        import sqlite3
        end = time.monotonic() + timeout
        got = -1
        while time.monotonic() < end:
            try:
                with sqlite3.connect(self.db, timeout=5) as c:
                    got = c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            except sqlite3.OperationalError:
                got = -1
            if got >= n:
                return got
            time.sleep(0.05)
        return got
