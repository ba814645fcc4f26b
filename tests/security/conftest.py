"""A site as production runs it, for attacks: the broker from the GENERATED config (password file,
ACL, client id bound to the user name), devices made by `provision-device` (registry included),
and the real ticketing and collector processes started from the configs `server-init` wrote."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient, Message
from mqtt.schemas import uuid7
from tests.collector.wire import CollectorProcess, envelope
from tests.ops.support import SiteBroker, run_ops
from tests.ticketing.helpers import site_toml

ROOT = Path(__file__).resolve().parents[2]
SITE = "test-hcc"
T = f"motcua/v1/{SITE}"
# device -> (role, provision-device arguments)
DEVICES = {
    "rt-01": ("rating-terminal", ["--desk", "1"]),
    "rt-02": ("rating-terminal", ["--desk", "2"]),
    "kiosk-1": ("kiosk", []),
    "cam-01": ("camera", ["--desks", "1,2"]),
    "display-1": ("display", []),  # the tests' eyes: any device reads the site state
}


def wait_for(pred: Callable[[], Any], timeout: float = 15.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.05)
    return pred()


class TicketingProcess:
    """``python -m ticketing --config <generated ticketing.toml>`` on the test broker."""

    def __init__(self, config: Path, url: str, db: Path):
        self.config, self.url, self.db = config, url, db
        self.log = db.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "TicketingProcess":
        env = dict(os.environ, PYTHONPATH=str(ROOT), MOTCUA_LOG="INFO")
        env.pop("NOTIFY_SOCKET", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ticketing", "--config", str(self.config), "--broker", self.url,
             "--db", str(self.db)], cwd=ROOT, env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Site:
    def __init__(self, root: Path, broker: SiteBroker):
        self.root, self.broker = root, broker
        self.url = f"mqtt://127.0.0.1:{broker.port}"
        self.etc = root / "etc/motcua"
        self.collector: CollectorProcess | None = None
        self.ticketing: TicketingProcess | None = None

    def password(self, user: str) -> str:
        if user in ("ticketing", "collector"):
            return str(tomllib.loads((self.etc / f"{user}.toml").read_text())["mqtt"]["password"])
        return str(tomllib.loads((self.etc / f"provision/{user}/mqtt.toml").read_text())["mqtt"]["password"])

    def device(self, name: str, role: str | None = None, desk: int | None = None) -> DeviceClient:
        role = role or DEVICES[name][0]
        c = DeviceClient(SITE, name, role, BrokerConfig(url=self.url, username=name, password=self.password(name)),
                         desk=desk, telemetry_interval_s=0)
        c.start()
        assert c.wait_connected(10), f"{name} could not log in"
        return c

    # -- the record --------------------------------------------------------------------------------

    def db(self) -> sqlite3.Connection:
        assert self.collector is not None
        conn = sqlite3.connect(self.collector.db, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self.db() as c:
            return c.execute(sql, args).fetchall()

    def dead(self, contains: str) -> list[sqlite3.Row]:
        return self.rows("SELECT * FROM dead_letters WHERE message LIKE ? ORDER BY id", f"%{contains}%")

    def wait_dead(self, contains: str, reason: str = "forbidden") -> sqlite3.Row:
        got = wait_for(lambda: [r for r in self.dead(contains) if r["reason"] == reason])
        assert got, f"no {reason} dead letter mentioning {contains!r}: " \
                    f"{[dict(r) for r in self.rows('SELECT reason, message FROM dead_letters')]}"
        return got[-1]

    def forbidden_count(self, device: str) -> int:
        r = self.rows("SELECT forbidden FROM devices WHERE site=? AND device=?", SITE, device)
        return int(r[0]["forbidden"] or 0) if r else 0

    def state(self, name: str, key: str | int | None = None, timeout: float = 5.0) -> dict[str, Any]:
        c = self.device("display-1")  # any device reads the site state
        got: list[bytes] = []
        c.subscribe(topics.state(SITE, name, key), lambda m: got.append(m.payload))
        wait_for(lambda: got, timeout)
        c.stop()
        assert got, f"no retained state/{name}/{key}"
        return dict(json.loads(got[-1]))

    # -- processes ---------------------------------------------------------------------------------

    def start_ticketing(self) -> None:
        self.ticketing = TicketingProcess(self.etc / "ticketing.toml", self.url, self.root / "ticketing.db").start()
        watcher = self.device("display-1")
        online: list[bool] = []
        watcher.subscribe(topics.status(SITE, "ticketing"), lambda m: online.append(b'"online"' in m.payload))
        ok = wait_for(lambda: online and online[-1], 30)
        watcher.stop()
        assert ok, f"ticketing did not come up: {self.ticketing.log.read_text()[-3000:]}"

    def start_collector(self) -> None:
        self.collector = CollectorProcess(self.url, self.root / "collector.db", site=SITE,
                                          extra=["--config", str(self.etc / "collector.toml")]).start(30)


def event_bytes(device: str, type_: str, data: dict[str, Any], seq: int = 1) -> tuple[str, bytes]:
    env = envelope(type_, data, device=device, site=SITE, seq=seq)
    return topics.event(SITE, device, type_), json.dumps(env).encode()


def send(c: DeviceClient, topic: str, payload: bytes, retain: bool = False,
         properties: Properties | None = None) -> None:
    c.publish(topic, payload, qos=1, retain=retain, properties=properties).wait_for_publish(10)


def answers(c: DeviceClient) -> list[dict[str, Any]]:
    """Every answer arriving on this device's own resp (the client's own request() waiter is kept)."""
    got: list[dict[str, Any]] = []
    own = c._on_response  # noqa: SLF001 - keep request() working while recording

    def both(m: Message) -> None:
        got.append(json.loads(m.payload))
        own(m)
    c.subscribe(topics.response(SITE, c.device), both)
    return got


def raw_request(c: DeviceClient, op: str, body: dict[str, Any], response_topic: str | None = None) -> str:
    rid = body.setdefault("id", uuid7())
    props = Properties(PacketTypes.PUBLISH)
    if response_topic:
        props.ResponseTopic = response_topic
    props.CorrelationData = rid.encode()
    send(c, topics.request(SITE, c.device, op), json.dumps({"v": 1, **body}).encode(), properties=props)
    return str(rid)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("prod")
    etc = root / "etc/motcua"
    etc.mkdir(parents=True)
    (etc / "site.toml").write_text(site_toml(), encoding="utf-8")
    run_ops("server-init", "--site", SITE, "--root", str(root))
    for name, (role, extra) in DEVICES.items():
        run_ops("provision-device", "--site", SITE, "--device", name, "--role", role, *extra, "--root", str(root))
    b = SiteBroker(root)
    b.start()
    s = Site(root, b)
    try:
        s.start_collector()
        s.start_ticketing()
        yield s
    finally:
        if s.ticketing:
            s.ticketing.stop()
        if s.collector:
            s.collector.stop()
        b.stop()
