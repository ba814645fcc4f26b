"""Pressing the desk's mock pins from outside the running unit (``setup.sh --mock-hardware``).

With ``GPIOZERO_PIN_FACTORY=mock`` the desk runs on gpiozero's MockFactory: pins nobody can
press. ``MOTCUA_MOCK_PINS=/run/motcua-rating-terminal/pins`` makes ``serve()`` create that FIFO
and press a pin for every key written to it, the keys of ``--simulate`` (1-5 rate, n call next,
r recall, x no-show, f finish)::

    echo 5 > /run/motcua-rating-terminal/pins      # a visitor presses "5" at the running desk

The press goes through the unit's own buttons, debouncer, outbox and MQTT login, as a finger on
the real button would. Refused (logged, no FIFO) when the pins are not mock pins.
"""
from __future__ import annotations

import logging
import os
import select
import stat
import threading
import time
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from .config import TerminalConfig

log = logging.getLogger(__name__)

ENV = "MOTCUA_MOCK_PINS"
KEYS = {"n": "call-next", "r": "recall", "x": "no-show", "f": "finish"}


def key_pin(config: TerminalConfig, ch: str) -> int | None:
    """The GPIO pin a key stands for: a digit is that score's button, n/r/x/f an officer key."""
    if ch.isdigit():
        return next((b.pin for b in config.rating.buttons if b.score == int(ch)), None)
    if ch in KEYS:
        return config.hardware.keys.by_op()[KEYS[ch]]
    return None


def press_pin(factory: MockFactory, pin: int, hold_s: float, gap_s: float) -> None:
    """A press and release of a mock button (pull-up: pressed is low), then a pause past the debounce."""
    p = factory.pin(pin)
    p.drive_low()
    time.sleep(hold_s)
    p.drive_high()
    time.sleep(gap_s)


class PinControl:
    """A FIFO whose every key presses the matching mock pin, read by one daemon thread."""

    def __init__(self, path: str | Path, factory: Any, config: TerminalConfig, hold_s: float = 0.05):
        if not isinstance(factory, MockFactory):
            raise ValueError(f"{ENV} is for mock pins only (GPIOZERO_PIN_FACTORY=mock); this desk runs on "
                             f"{type(factory).__name__}: not pressing real pins")
        self.path = Path(path)
        self.factory = factory
        self.config = config
        self.hold_s = hold_s
        self.gap_s = config.hardware.debounce_ms / 1000 + 0.02
        self.pressed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mock-pins", daemon=True)

    def start(self) -> None:
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISFIFO(self.path.lstat().st_mode):
                raise ValueError(f"{self.path} exists and is not a FIFO")
            self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(self.path, 0o660)
        # read end non-blocking, and a write end of our own so that a writer closing is no EOF
        self._rfd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._wfd = os.open(self.path, os.O_WRONLY)
        self._thread.start()
        log.info("mock pins: keys written to %s press the desk's buttons", self.path)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        for fd in (self._rfd, self._wfd):
            os.close(fd)
        self.path.unlink(missing_ok=True)

    def key(self, ch: str) -> None:
        pin = key_pin(self.config, ch)
        if pin is None:
            log.warning("mock pins: no button or key for %r", ch)
            return
        press_pin(self.factory, pin, self.hold_s, self.gap_s)
        self.pressed += 1
        log.info("mock pins: key %r pressed GPIO%d", ch, pin)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._rfd], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(self._rfd, 4096)
            except BlockingIOError:
                continue
            for ch in data.decode("utf-8", "replace"):
                if not ch.isspace():
                    try:
                        self.key(ch)
                    except Exception:  # noqa: BLE001 - one bad press must not end the hook
                        log.exception("mock pins: pressing %r failed", ch)
