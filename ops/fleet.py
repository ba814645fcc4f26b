"""Updates over MQTT: the device's agent (``motcua update --listen``) answers ``cmd/update`` and
keeps ``dev/{device}/state/update`` (retained) current; the server's ``motcua update-devices``
asks devices in waves of N and starts the next wave only when every device of this one is healthy
on the new version (a failed or rolled-back device stops the rollout).

The agent logs in with the device's password as ``<device>-update`` (ops/mosquitto.py
update_user: as the device itself it would take the role unit's session over, client ids being
bound to user names), a user the ACL limits to the device's own ``cmd/update`` and
``state/update``; ``update-devices``'
waves log in as ``collector-waves`` with the collector's password, a user the ACL lets write
devices' ``cmd/update`` and read their ``state/update`` (as ``collector`` they would take the
running collector's client id: the broker binds client ids to user names). The dashboard's
button sends through the collector's own connection.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from common.waves import Rollout
from mqtt import topics
from mqtt.schemas import UpdateCommand, UpdateState

from .update import Result, Updater, release_of

log = logging.getLogger(__name__)
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def now() -> datetime:
    return datetime.now(TZ)


def _client(broker: Any, client_id: str) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    broker.apply(c)
    return c


class Agent:
    """One device's update agent. ``run_update`` is the updater (injected in tests)."""

    def __init__(self, broker: Any, site: str, device: str, updater: Updater,
                 run_update: Callable[[UpdateCommand, Callable[[str, str], None]], Result] | None = None,
                 fallback_username: str | None = None):
        self.broker, self.site, self.device, self.updater = broker, site, device, updater
        # a device provisioned before update users existed: its own login (sharing the unit's session)
        self.fallback_username = fallback_username
        self.run_update = run_update or (lambda cmd, say: updater.run(force=cmd.force, progress=say))
        self.jobs: queue.Queue[UpdateCommand | None] = queue.Queue()
        self.client = _client(broker, f"{device}-update")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.handled: set[str] = set()
        self.last: Result | None = None

    def version(self) -> str:
        cur = self.updater.current()
        return release_of(cur).get("version", "?") if cur else "?"

    def publish(self, state: str, detail: str = "", target: str = "", command: str | None = None) -> None:
        st = UpdateState(device=self.device, state=state, version=self.version(), target=target,  # type: ignore[arg-type]
                         command=command, detail=detail[:2000], ts=now())
        self.client.publish(topics.device_state(self.site, self.device, "update"), st.dumps(), qos=1, retain=True)

    def _on_connect(self, c: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if rc.is_failure:
            if self.fallback_username and self.broker.username != self.fallback_username:
                log.warning("broker refused the update agent as %s (%s): logging in as %s instead; provision "
                            "the device again (motcua provision-device --replace) to give the agent its own login",
                            self.broker.username, rc, self.fallback_username)
                self.broker = self.broker.model_copy(update={"username": self.fallback_username})
                c.username_pw_set(self.broker.username, self.broker.password)
                return
            log.error("broker refused the update agent: %s", rc)
            return
        c.subscribe(topics.command(self.site, self.device, "update"), qos=1)
        if self.last is None:
            self.publish("idle")

    def _on_message(self, c: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            cmd = UpdateCommand.model_validate_json(msg.payload)
        except ValidationError as exc:
            log.warning("bad update command on %s: %s", msg.topic, exc)
            self.publish("failed", f"lệnh sai / bad update command: {exc.errors()[0]['msg']}")
            return
        if cmd.id in self.handled:
            return  # asked again while (or after) running it: once is enough
        self.handled.add(cmd.id)
        self.jobs.put(cmd)

    def serve(self, *, once: bool = False) -> Result | None:
        """Connects, then runs update commands one at a time. Returns after the first update
        that switched versions (the unit restarts the agent on the new venv), or after one
        command with ``once``."""
        host, port, _ = self.broker.endpoint()
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()
        try:
            while True:
                cmd = self.jobs.get()
                if cmd is None:
                    return self.last
                res = self._handle(cmd)
                if once or res.state == "updated":
                    return res
        finally:
            time.sleep(0.2)
            self.client.disconnect()
            self.client.loop_stop()

    def _handle(self, cmd: UpdateCommand) -> Result:
        target = cmd.version or ""
        self.publish("updating", "", target, cmd.id)
        res = self.run_update(cmd, lambda state, detail: self.publish(state, detail, target, cmd.id))
        if cmd.version and res.target and res.target != cmd.version:
            res = Result("failed", res.version, res.target, f"the server offers {res.target}, not {cmd.version}: "
                         "publish that release first")
        self.last = res
        self.publish(res.state, res.detail, res.target, cmd.id)
        return res

    def stop(self) -> None:
        self.jobs.put(None)


# ---------------------------------------------------------------------------- waves
class Waves:
    """Ask devices to update N at a time; watch their retained update state."""

    def __init__(self, broker: Any, site: str, *, timeout_s: float = 600.0, resend_s: float = 10.0):
        self.site, self.timeout_s, self.resend_s = site, timeout_s, resend_s
        self.states: dict[str, UpdateState] = {}
        self.cond = threading.Condition()
        self.client = _client(broker, f"collector-waves-{uuid.uuid4().hex[:6]}")
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topics.device_state_filter(site, "update"), qos=1)
        host, port, _ = broker.endpoint()
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self.subscribed.wait(10)

    def _on_message(self, c: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            st = UpdateState.model_validate_json(msg.payload)
        except ValidationError:
            log.warning("bad update state on %s", msg.topic)
            return
        if topics.parse(msg.topic).device != st.device:
            return  # identity is the topic the ACL binds, never the payload
        with self.cond:
            self.states[st.device] = st
            self.cond.notify_all()

    def ask(self, device: str, cmd: UpdateCommand) -> None:
        self.client.publish(topics.command(self.site, device, "update"), cmd.dumps(), qos=1).wait_for_publish(10)

    def rollout(self, devices: list[str], size: int, version: str | None,
                report: Callable[[int, dict[str, UpdateState | None]], None]) -> bool:
        """Drives ``common.waves.Rollout`` (the same decisions as the dashboard's form) with the
        states this client sees; ``report(n, states)`` once per wave that ended, a device with no
        answer to this command as ``None``. Commands are resent (same id: the agent runs it once)
        every ``resend_s`` until the device takes it: a command is not retained."""
        ro = Rollout(devices, size, version, resend_s=self.resend_s, timeout_s=self.timeout_s)
        reported = 0
        while True:
            status = ro.step(self.states.get, self.ask)
            ended = ro.wave if status == "running" else len(ro.sent)
            for n in range(reported, ended):
                report(n + 1, {d: ro.seen(d, self.states.get) for d in ro.sent[n]})
            reported = ended
            if status != "running":
                return status == "done"
            with self.cond:
                self.cond.wait(1.0)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
