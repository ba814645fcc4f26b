"""A bare paho subscriber that records what arrives, for tests that check the wire."""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


class Recorder:
    """Subscribes to topic filters and keeps every message (topic, payload, retain)."""

    def __init__(self, port: int, *filters: str, client_id: str | None = None):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.cv = threading.Condition(self.lock)
        self.filters = filters or ("#",)
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or "", protocol=paho.MQTTv5)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self._subscribed = threading.Event()
        self.c.on_subscribe = lambda *a: self._subscribed.set()
        self.c.reconnect_delay_set(0.1, 1)
        self.c.connect_async("127.0.0.1", port)
        self.c.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("recorder could not subscribe")

    def _on_connect(self, c: paho.Client, *_: Any) -> None:
        c.subscribe([(f, 1) for f in self.filters])

    def _on_message(self, c: paho.Client, u: Any, msg: paho.MQTTMessage) -> None:
        with self.cv:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self.cv.notify_all()

    def wait_for(self, pred: Callable[[list[tuple[str, bytes, bool]]], bool], timeout: float = 10) -> bool:
        end = time.monotonic() + timeout
        with self.cv:
            while not pred(self.messages):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(left)
            return True

    def json(self, contains: str = "") -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(p) for t, p, _ in self.messages if contains in t]

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()
