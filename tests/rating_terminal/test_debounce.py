"""Debounce in our own code: bouncy presses count once (gpiozero mock pins ignore bounce_time)."""
from __future__ import annotations

import time

from rating_terminal.debounce import Debouncer
from rating_terminal.hardware import Hardware

from .conftest import KEYS, PINS, make_config


class Ticks:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_debouncer_counts_a_bouncy_press_once():
    ticks, presses = Ticks(), []
    d = Debouncer(0.03, lambda: presses.append(ticks.t), ticks)
    for dt, pressed in [(0, True), (0.001, False), (0.002, True), (0.004, False), (0.005, True)]:
        ticks.t = 100 + dt
        d.edge(pressed)
    ticks.t = 100.3   # release after a real hold, with its own bounce
    d.edge(False)
    ticks.t = 100.301
    d.edge(True)
    ticks.t = 100.302
    d.edge(False)
    assert presses == [100.0]
    ticks.t = 100.5   # a second real press later counts
    d.edge(True)
    assert presses == [100.0, 100.5]
    assert d.presses == 2 and d.bounces == 6


def test_bouncy_mock_pin_presses_count_once(tmp_path, factory):
    cfg = make_config(tmp_path)
    hw = Hardware(cfg, pin_factory=factory)
    rated, keys = [], []
    hw.when_rated_pressed = rated.append
    hw.when_key_pressed = keys.append
    try:
        pin = factory.pin(PINS[4])
        for _ in range(5):           # contact bounce: 10 edges within a couple of ms
            pin.drive_low()
            pin.drive_high()
        pin.drive_low()
        time.sleep(0.1)
        pin.drive_high()
        for _ in range(3):           # release bounce
            pin.drive_low()
            pin.drive_high()
        assert rated == [4]
        time.sleep(0.05)
        pin.drive_low()              # the next real press counts
        pin.drive_high()
        assert rated == [4, 4]
        k = factory.pin(KEYS["call-next"])
        for _ in range(4):
            k.drive_low()
            k.drive_high()
        assert keys == ["call-next"]
    finally:
        hw.close()


def test_debounce_zero_counts_every_press(tmp_path, factory):
    cfg = make_config(tmp_path, replace={"debounce_ms = 30": "debounce_ms = 0"})
    hw = Hardware(cfg, pin_factory=factory)
    rated: list[int] = []
    hw.when_rated_pressed = rated.append
    try:
        for _ in range(3):
            factory.pin(PINS[2]).drive_low()
            factory.pin(PINS[2]).drive_high()
        assert rated == [2, 2, 2]
    finally:
        hw.close()
