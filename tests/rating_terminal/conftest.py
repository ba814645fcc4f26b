"""Fixtures of the rating terminal tests: config, MockFactory pins, a running desk, fake ticketing."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import serial
from gpiozero.pins.mock import MockFactory

from common.config import parse_config
from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient, Message
from mqtt.schemas import DeskState, Request, Response, TicketInfo
from rating_terminal.app import Runtime
from rating_terminal.config import TerminalConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "rating-terminal.toml"
SITE = "camau-hcc"
DESK = 5
PINS = {5: 5, 4: 6, 3: 13, 2: 19, 1: 26}  # score -> button pin in the example config
LEDS = {5: 17, 4: 27, 3: 22, 2: 23, 1: 24}
KEYS = {"call-next": 12, "recall": 16, "no-show": 20, "finish": 21}
BUZZER, STATUS = 18, 25


def make_config(tmp_path: Path, broker_url: str = "mqtt://127.0.0.1:1883", extra: str = "",
                replace: dict[str, str] | None = None) -> TerminalConfig:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('url = "mqtt://127.0.0.1:1883"', f'url = "{broker_url}"')
    text = text.replace('outbox = "/var/lib/motcua/rating-terminal/outbox.db"', f'outbox = "{tmp_path / "outbox.db"}"')
    text = text.replace("telemetry_interval_s = 60", "telemetry_interval_s = 0")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return parse_config(text + "\n" + extra, TerminalConfig, "test.toml")


def press(factory: MockFactory, pin: int, hold_s: float = 0.0) -> None:
    p = factory.pin(pin)
    p.drive_low()
    if hold_s:
        time.sleep(hold_s)
    p.drive_high()


def wait_until(pred: Callable[[], bool], timeout: float = 5.0, step: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


@pytest.fixture
def factory() -> MockFactory:
    return MockFactory()


class Desk:
    """A running desk on MockFactory pins with loop:// serial ports."""

    def __init__(self, config: TerminalConfig, factory: MockFactory, **kw: Any):
        self.factory = factory
        self.display_port = serial.serial_for_url("loop://", timeout=0.2)
        self.badge_port = serial.serial_for_url("loop://", timeout=0.2)
        self.rt = Runtime(config, pin_factory=factory, display_port=self.display_port,
                          badge_port=self.badge_port, reconnect_max_s=1.0, tick_s=0.05, **kw)
        self.terminal = self.rt.terminal
        self.hw = self.rt.hardware

    def start(self, connected: bool = True) -> "Desk":
        self.rt.start()
        if connected:
            assert self.rt.client.wait_connected(10)
        return self

    def press(self, score: int) -> None:
        press(self.factory, PINS[score])
        time.sleep(self.rt.config.hardware.debounce_ms / 1000 + 0.005)

    def key(self, op: str) -> None:
        press(self.factory, KEYS[op])
        time.sleep(self.rt.config.hardware.debounce_ms / 1000 + 0.005)

    def display_bytes(self, wait_s: float = 0.3) -> bytes:
        """Everything the display driver wrote since the last call (loop:// echoes it back)."""
        time.sleep(wait_s)
        return self.display_port.read(self.display_port.in_waiting)

    def stop(self) -> None:
        self.rt.stop(flush_s=0.5)


@pytest.fixture
def make_desk(factory: MockFactory) -> Iterator[Callable[..., Desk]]:
    desks: list[Desk] = []

    def make(config: TerminalConfig, **kw: Any) -> Desk:
        d = Desk(config, factory, **kw)
        desks.append(d)
        return d

    yield make
    for d in desks:
        d.stop()


class FakeTicketing:
    """A tiny ticketing responder on the wire (DeviceClient.serve): call-next hands out
    incrementing tickets, the same request id always gets the same answer, and the first
    ``lose_answers`` answers are lost after the work was done (the handler raises)."""

    def __init__(self, broker_url: str, site: str = SITE, waiting: int = 100, lose_answers: int = 0):
        self.client = DeviceClient(site, "ticketing", "ticketing", BrokerConfig(url=broker_url),
                                   telemetry_interval_s=0)
        self.site = site
        self.waiting = waiting
        self.lose_answers = lose_answers
        self.next_number = 1001
        self.answers: dict[str, Response] = {}
        self.requests: list[tuple[str, Request]] = []
        self.called: list[str] = []
        self.current: dict[int, TicketInfo] = {}
        self.lock = threading.Lock()
        for op in ("call-next", "recall", "no-show", "finish"):
            self.client.serve(op, self._handler(op))

    def start(self) -> "FakeTicketing":
        self.client.start()
        assert self.client.wait_connected(10)
        time.sleep(0.2)  # subscriptions in place
        return self

    def stop(self) -> None:
        self.client.stop()

    def _handler(self, op: str) -> Callable[[Request, Message], Response]:
        def handle(req: Request, msg: Message) -> Response:
            with self.lock:
                self.requests.append((op, req))
                resp = self.answers.get(req.id)
                if resp is None:
                    resp = self._do(op, req)
                    self.answers[req.id] = resp
                if self.lose_answers > 0:
                    self.lose_answers -= 1
                    raise ConnectionError("answer lost on purpose")
                return resp
        return handle

    def _do(self, op: str, req: Request) -> Response:
        desk = req.desk or 0
        if op == "call-next":
            if self.waiting <= 0:
                return Response(request_id=req.id, ok=False, error="queue_empty",
                                message_vi="HẾT SỐ CHỜ", message_en="QUEUE EMPTY")
            self.waiting -= 1
            number = self.next_number
            self.next_number += 1
            t = TicketInfo(ticket=str(number), number=number, day="2026-11-23", service="HT")
            self.current[desk] = t
            self.called.append(t.ticket)
            self._publish(DeskState(desk=desk, officer=req.officer, ticket=t.ticket, number=number,
                                    day=t.day, service="HT", status="serving"))
            return Response(request_id=req.id, ok=True, ticket=t, waiting=self.waiting)
        t = self.current.get(desk)
        if t is None:
            return Response(request_id=req.id, ok=False, error="no_ticket",
                            message_vi="CHƯA GỌI SỐ", message_en="NO TICKET")
        if op in ("finish", "no-show"):
            del self.current[desk]
            self._publish(DeskState(desk=desk, officer=req.officer, status="idle"))
        return Response(request_id=req.id, ok=True, ticket=t)

    def _publish(self, state: DeskState) -> None:
        self.client.publish_state(topics.state(self.site, "desk", state.desk), state)


@pytest.fixture
def make_ticketing() -> Iterator[Callable[..., FakeTicketing]]:
    made: list[FakeTicketing] = []

    def make(broker_url: str, **kw: Any) -> FakeTicketing:
        t = FakeTicketing(broker_url, **kw).start()
        made.append(t)
        return t

    yield make
    for t in made:
        t.stop()
