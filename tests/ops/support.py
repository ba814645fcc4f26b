"""Helpers for the ops tests: a Mosquitto run with the generated motcua config, MQTT probes."""
from __future__ import annotations

import getpass
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ops import mosquitto as mq
from tests.support.broker import Mosquitto, find_mosquitto, free_port
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
SITE = "camau-hcc"


def run_ops(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "ops", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"ops {args} failed {proc.returncode}: {proc.stdout}\n{proc.stderr}")
    return proc


class SiteBroker(Mosquitto):
    """Mosquitto started with the conf.d snippet `server-init` generated under a root prefix,
    plus what the Debian main file gives (persistence) and `user <me>` so it runs here."""

    def __init__(self, root: Path, tls_port: int | None = None):
        super().__init__(root / "run")
        self.root = root
        self.tls_port = tls_port

    def write_config(self) -> Path:
        files = mq.BrokerFiles.under(self.root)
        snippet = files.conf.read_text()
        # the broker runs here under the root prefix: paths and ports become the test's own
        snippet = snippet.replace(" /etc/", f" {self.root}/etc/")
        snippet = snippet.replace("listener 1883\n", f"listener {self.port} 127.0.0.1\n")
        snippet = snippet.replace("listener 1883 127.0.0.1\n", f"listener {self.port} 127.0.0.1\n")
        if self.tls_port:
            snippet = snippet.replace("listener 8883\n", f"listener {self.tls_port} 127.0.0.1\n")
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"persistence true\npersistence_location {self.dir}/\nuser {getpass.getuser()}\n"
                        f"log_dest file {self.log_path}\nlog_type all\n{snippet}")
        return conf

    def reload(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(1)  # SIGHUP: Mosquitto re-reads password and ACL files
        time.sleep(0.5)


class Probe:
    """One MQTT 5 connection as a given user; records what it receives."""

    def __init__(self, port: int, user: str | None, password: str | None, tls: dict[str, str] | None = None):
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{user}-{time.monotonic_ns()}",
                             protocol=paho.MQTTv5)
        if user:
            self.c.username_pw_set(user, password)
        if tls:
            self.c.tls_set(ca_certs=tls["ca"], certfile=tls.get("cert"), keyfile=tls.get("key"))
        self.got: list[tuple[str, bytes]] = []
        self.rc = None
        self.connected = threading.Event()
        self.subacks: list[list[int]] = []
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.append([int(r.value) for r in rcs])
        self.port = port

    def _on_connect(self, c, u, flags, rc, props=None) -> None:  # noqa: ANN001
        self.rc = rc
        self.connected.set()

    def connect(self, timeout: float = 5.0) -> bool:
        self.c.connect("127.0.0.1", self.port)
        self.c.loop_start()
        assert self.connected.wait(timeout), "no CONNACK"
        return not self.rc.is_failure

    def subscribe(self, topic: str) -> None:
        n = len(self.subacks)
        self.c.subscribe(topic, qos=1)
        end = time.monotonic() + 5
        while len(self.subacks) == n and time.monotonic() < end:
            time.sleep(0.02)

    def publish(self, topic: str, payload: bytes = b"x", retain: bool = False) -> None:
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()



__all__ = ["ROOT", "SITE", "SiteBroker", "Probe", "run_ops", "wait_for", "find_mosquitto", "free_port"]
