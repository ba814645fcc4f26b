"""Two real Mosquitto processes, a site and the province's central broker, with the configs the
provisioning tools generate (`server-init`, `province-bridge central-init|add-site|join`) and the
TLS certificates made by ops/tls.py; the bridge runs through a TCP link the tests can cut."""
from __future__ import annotations

import getpass
import re
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ops import bridge
from tests.ops.support import SiteBroker, run_ops
from tests.province.proxy import Link
from tests.support.broker import Mosquitto, free_port
from tests.support.wait import wait_for

SITE = "camau-hcc"
OTHER = "bac-lieu"


class CentralBroker(Mosquitto):
    """Mosquitto run with the central conf.d snippet `central-init` wrote under a root prefix."""

    def __init__(self, root: Path):
        super().__init__(root / "run")
        self.root = root
        self.tls_port = free_port()

    def write_config(self) -> Path:
        snippet = bridge.CentralFiles.under(self.root).conf.read_text()
        snippet = snippet.replace(" /etc/", f" {self.root}/etc/")
        snippet = snippet.replace("listener 1883 127.0.0.1\n", f"listener {self.port} 127.0.0.1\n")
        snippet = snippet.replace("listener 8883\n", f"listener {self.tls_port} 127.0.0.1\n")
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"persistence true\npersistence_location {self.dir}/\nuser {getpass.getuser()}\n"
                        f"log_dest file {self.log_path}\nlog_type all\n{snippet}")
        return conf


class BridgedSite(SiteBroker):
    """The site broker with its generated bridge snippet (the CA path made the test's own)."""

    def write_config(self) -> Path:
        conf = super().write_config()
        snippet = bridge.site_bridge_conf(self.root).read_text().replace(" /etc/", f" {self.root}/etc/")
        conf.write_text(conf.read_text() + snippet)
        return conf


class Sub:
    """An MQTT 5 client that records (topic, payload, retain) of what it receives."""

    def __init__(self, port: int, user: str, password: str, *, ca: str | None = None, name: str = "sub",
                 durable: bool = False):
        self.durable = durable  # a fixed client id and a session the broker keeps (and persists)
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=name if durable else f"{name}-{time.monotonic_ns()}",
                             protocol=paho.MQTTv5)
        self.c.reconnect_delay_set(0.2, 1)
        self.c.username_pw_set(user, password)
        if ca:
            self.c.tls_set(ca_certs=ca)
        self.got: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.rc: Any = None
        self.c.on_message = self._on_message
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda *a: self.ready.set()
        self.port = port

    def _on_connect(self, c: Any, u: Any, flags: Any, rc: Any, props: Any = None) -> None:
        self.rc = rc

    def _on_message(self, c: Any, u: Any, m: Any) -> None:
        with self.lock:
            self.got.append((m.topic, m.payload, bool(m.retain)))

    def connect(self) -> bool:
        props = None
        if self.durable:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.c.connect("127.0.0.1", self.port, clean_start=not self.durable, properties=props)
        self.c.loop_start()
        end = time.monotonic() + 10
        while self.rc is None and time.monotonic() < end:
            time.sleep(0.02)
        return self.rc is not None and not self.rc.is_failure

    def subscribe(self, topic: str) -> None:
        self.ready.clear()
        self.c.subscribe(topic, qos=1)
        assert self.ready.wait(5), "no SUBACK"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def payloads(self, prefix: str = "") -> list[bytes]:
        with self.lock:
            return [p for t, p, _ in self.got if t.startswith(prefix)]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def toml(path: Path, table: str) -> dict[str, Any]:
    return dict(tomllib.loads(path.read_text())[table])


class Province:
    def __init__(self, tmp: Path):
        self.central_root, self.site_root = tmp / "central", tmp / "site"
        run_ops("province-bridge", "central-init", "--root", str(self.central_root),
                "--server-name", "localhost", "--server-name", "127.0.0.1")
        self.central = CentralBroker(self.central_root)
        self.link = Link(self.central.tls_port)
        for site in (SITE, OTHER):
            run_ops("province-bridge", "add-site", "--root", str(self.central_root), "--site", site,
                    "--province", f"mqtts://127.0.0.1:{self.central.tls_port}")
        run_ops("server-init", "--site", SITE, "--root", str(self.site_root))
        run_ops("provision-device", "--site", SITE, "--device", "rt-01", "--role", "rating-terminal",
                "--desk", "1", "--root", str(self.site_root))
        self.link.start()
        run_ops("province-bridge", "join", "--root", str(self.site_root), "--bundle", str(self.bundle(SITE)),
                "--province", f"mqtts://127.0.0.1:{self.link.port}", "--restart-timeout", "1 3")
        self.site = BridgedSite(self.site_root)
        self.ca = str(self.central_root / "etc/motcua/province-tls/ca.crt")

    def bundle(self, site: str) -> Path:
        return self.central_root / "etc/motcua/province/sites" / site

    def site_password(self, site: str) -> str:
        return str(toml(self.bundle(site) / "bridge.toml", "bridge")["password"])

    def central_sub(self, topic: str = "motcua/#", durable: bool = False) -> Sub:
        cred = toml(self.central_root / "etc/motcua/province/province-collector.toml", "mqtt")
        s = Sub(self.central.port, cred["username"], cred["password"], name="central", durable=durable)
        assert s.connect(), s.rc
        for t in (("motcua/v1/#", "motcua/link/#") if topic == "motcua/#" else (topic,)):
            s.subscribe(t)
        return s

    def device(self, device: str = "rt-01") -> Sub:
        cred = toml(self.site_root / f"etc/motcua/provision/{device}/mqtt.toml", "mqtt")
        s = Sub(self.site.port, device, cred["password"], name=device)
        assert s.connect(), s.rc
        return s

    def server(self, user: str) -> Sub:
        cred = toml(self.site_root / f"etc/motcua/{user}.toml", "mqtt")
        s = Sub(self.site.port, user, cred["password"], name=user)
        assert s.connect(), s.rc
        return s

    def bridge_up(self, timeout: float = 30.0) -> bool:
        """The central broker holds the site's retained link state '1' (Mosquitto's notification)."""
        s = self.central_sub(f"motcua/link/{SITE}")
        try:
            return wait_for(lambda: s.payloads() and s.payloads()[-1] == b"1", timeout)
        finally:
            s.close()

    def central_log(self) -> str:
        return self.central.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Province]:
    p = Province(tmp_path_factory.mktemp("province"))
    p.central.start()
    p.site.start()
    try:
        assert p.bridge_up(), "the bridge did not connect:\n" + p.site.log_path.read_text()[-3000:]
        yield p
    finally:
        p.site.stop()
        p.link.cut()
        p.central.stop()


__all__ = ["SITE", "OTHER", "Province", "Sub", "wait_for", "re"]
