"""One ticketing per site: an exclusive lock next to the database, and a probe on the broker.

The lock file stops a second process on the same machine (and survives SIGKILL: the kernel
drops the lock with the process). The probe catches a twin elsewhere on the same broker: when
ticketing's retained status says ``online``, a request is sent; a live twin answers it, a
status left ``online`` by a process that died (its Last Will not yet fired) does not.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqtt import topics
from mqtt.client import BrokerConfig
from mqtt.schemas import Request, uuid7

from .errors import AlreadyRunning

log = logging.getLogger(__name__)


class InstanceLock:
    """fcntl.flock on ``<db>.lock``; raise AlreadyRunning naming the holder's pid."""

    def __init__(self, db_path: str | Path, site: str):
        self.path = Path(str(db_path) + ".lock")
        self.site = site
        self._fh: IO[str] | None = None

    def acquire(self) -> "InstanceLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise AlreadyRunning(
                f"another ticketing for site {self.site!r} is already running (pid {holder} holds "
                f"{self.path}); only one queue authority may serve a site: stop it first") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def probe_device(device: str) -> str:
    """The broker user (and device id) of ticketing's start-up twin probe."""
    return f"{device}-probe"[:32]


def probe_twin(broker: BrokerConfig, site: str, device: str, timeout: float = 2.0) -> bool:
    """True when another ticketing for `site` answers on the broker right now.

    False when its retained status is offline or absent, when it does not answer within
    `timeout`, or when the broker cannot be reached (the lock file still guards this machine).
    """
    host, port, tls = broker.endpoint()
    # The probe logs in as "<user>-probe" (server-init gives it ticketing's password): the site
    # broker binds client ids to user names, so logging in as ticketing itself would take over,
    # and wipe, the persistent session of a ticketing that is running.
    probe = probe_device(device)
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=probe, protocol=paho.MQTTv5)
    if broker.username:
        c.username_pw_set(probe_device(broker.username), broker.password)
    if tls:
        c.tls_set(ca_certs=broker.ca_file, certfile=broker.cert_file, keyfile=broker.key_file)
    status_topic = topics.status(site, device)
    reply_topic = topics.response(site, probe)
    corr = uuid7().encode()
    got_status = threading.Event()
    online = threading.Event()
    answered = threading.Event()
    subscribed = threading.Event()

    def on_connect(cl: paho.Client, *_: Any) -> None:
        cl.subscribe([(reply_topic, 1), (status_topic, 1)])

    def on_subscribe(*_: Any) -> None:
        subscribed.set()

    def on_message(cl: paho.Client, u: Any, msg: paho.MQTTMessage) -> None:
        if msg.topic == status_topic:
            if b'"online"' in msg.payload:
                online.set()
            got_status.set()
        elif getattr(msg.properties, "CorrelationData", None) == corr:
            answered.set()

    c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
    try:
        c.connect(host, port, keepalive=10)
    except OSError as exc:
        log.warning("twin probe: broker %s unreachable (%s); relying on the lock file", broker.url, exc)
        return False
    c.loop_start()
    try:
        if not subscribed.wait(timeout):
            return False
        got_status.wait(0.3)  # a retained status arrives right after the subscription
        if not online.is_set():
            return False
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = reply_topic
        props.CorrelationData = corr
        req = Request(id=f"probe-{uuid7()}", device=probe)  # any answer, even "forbidden", says a twin is live
        c.publish(topics.request(site, probe, "lease"), req.dumps(), qos=1, properties=props)
        return answered.wait(timeout)
    finally:
        c.disconnect()
        c.loop_stop()
