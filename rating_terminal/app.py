"""Wires one desk together from its config: outbox, MQTT client, GPIO, serial peripherals, logic."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from common.clock import Clock, SystemClock
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox

from .config import TerminalConfig
from .errors import PeripheralError
from .hardware import Hardware
from .rated import RatedTickets
from .serial_devices import BadgeReader, CounterDisplay, make_badge_reader, make_display
from .terminal import Terminal

log = logging.getLogger(__name__)

ROLE = "rating-terminal"


class Runtime:
    """Everything one desk runs, built but not started. ``start()`` / ``stop()``.

    Every edge is injectable: ``pin_factory`` (MockFactory in tests), the serial ports
    (``serial.serial_for_url('loop://')``), the clock, the broker URL and the outbox path.
    """

    def __init__(self, config: TerminalConfig, *, pin_factory: Any = None, broker_url: str | None = None,
                 outbox_path: str | Path | None = None, clock: Clock | None = None,
                 display_port: Any = None, badge_port: Any = None, reconnect_max_s: float = 30.0,
                 tick_s: float = 0.25, outbox_max_events: int | None = None):
        self.config = config
        self.clock = clock or SystemClock(config.timezone)
        broker = config.mqtt
        if broker_url:
            broker = BrokerConfig(**{**broker.model_dump(), "url": broker_url})
            broker.endpoint()
        outbox_path = Path(outbox_path or config.outbox)
        limit = {"max_events": outbox_max_events} if outbox_max_events is not None else {}
        self.outbox = Outbox(outbox_path, config.site, config.device, clock=self.clock, **limit)
        self.rated = RatedTickets(outbox_path.parent / "rated.db", self.clock)
        self.client = DeviceClient(config.site, config.device, ROLE, broker, outbox=self.outbox,
                                   desk=config.desk, clock=self.clock,
                                   telemetry_interval_s=config.telemetry_interval_s,
                                   reconnect_max_s=reconnect_max_s)
        self.hardware = Hardware(config, pin_factory)
        self.display: CounterDisplay | None = None
        display_error: PeripheralError | None = None
        if config.display is not None:
            try:
                self.display = make_display(config.display, display_port)
            except PeripheralError as exc:
                display_error = exc
        self.terminal = Terminal(config, self.client, self.outbox, self.hardware, self.display, self.clock,
                                 tick_s=tick_s, rated=self.rated)
        self.client.telemetry_extra = self.terminal.telemetry_extra
        self.hardware.when_rated_pressed = self.terminal.rate
        self.hardware.when_key_pressed = self.terminal.officer_key
        self.badge: BadgeReader | None = None
        badge_error: PeripheralError | None = None
        if config.badge is not None:
            try:
                self.badge = make_badge_reader(config.badge, self.terminal.badge, self._badge_failed, badge_port)
            except PeripheralError as exc:
                badge_error = exc
        if display_error is not None:
            self.terminal.peripheral_failed("counter_display", display_error)
        if badge_error is not None:
            self.terminal.peripheral_failed("badge_reader", badge_error)

    def _badge_failed(self, exc: Exception) -> None:
        self.terminal.peripheral_failed("badge_reader", exc)

    def start(self) -> None:
        self.client.start()
        self.terminal.start()
        if self.badge is not None:
            self.badge.start()

    def stop(self, flush_s: float = 2.0) -> None:
        if self.badge is not None:
            self.badge.stop()
        self.terminal.stop()
        if self.client.connected and flush_s > 0:
            self.client.settle(flush_s)
        self.client.stop()
        self.hardware.close()
        if self.display is not None:
            self.display.close()
        self.outbox.close()
        self.rated.close()
