"""``--simulate``: the whole terminal on gpiozero's MockFactory, driven from the keyboard.

Keys: 1..5 rating buttons, n call next, r recall, x no-show, f finish, b / B swipe badge card
one / two, q quit. With a TTY single keys work (cbreak mode); without one (a pipe, a script)
stdin is read line by line and every character of a line is a key; end of input quits.
The LEDs, buzzer, status and counter display are drawn as one text line whenever they change.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, Callable, TextIO

import serial
from gpiozero.pins.mock import MockFactory

from .app import Runtime
from .config import DisplayConfig, TerminalConfig
from .mockpins import KEYS, key_pin, press_pin

log = logging.getLogger(__name__)
HELP = ("Phím / keys: 1-5 đánh giá / rate, n gọi số tiếp / call next, r gọi lại / recall, "
        "x vắng mặt / no-show, f hoàn thành / finish, b/B quẹt thẻ / swipe badge, q thoát / quit")


class MemoryPort:
    """A write-only serial port stand-in that keeps the last line written (the simulated display)."""

    name = "simulated-display"

    def __init__(self) -> None:
        self.last = ""
        self.written = b""

    def write(self, data: bytes) -> int:
        self.written = (self.written + data)[-4096:]
        text = data.decode("utf-8", "replace").strip()
        if text:
            self.last = text.splitlines()[-1]
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class Simulator:
    """Presses mock pins for keys and renders the outputs as text."""

    def __init__(self, config: TerminalConfig, factory: MockFactory, out: TextIO, *,
                 broker_url: str | None = None, outbox_path: str | None = None,
                 hold_s: float = 0.05):
        self.config = config
        self.factory = factory
        self.out = out
        self.hold_s = hold_s
        self.gap_s = config.hardware.debounce_ms / 1000 + 0.02
        self.display_port = MemoryPort()
        self.badge_port = serial.serial_for_url("loop://", timeout=0.2)
        cfg = config.model_copy(deep=True)
        if cfg.display is None:
            cfg.display = DisplayConfig(port="simulated", width=40)
        self.cards = list(cfg.badge.cards) if cfg.badge and cfg.badge.cards else ["sim-card-1", "sim-card-2"]
        if len(self.cards) < 2:
            self.cards.append("sim-card-2")
        if cfg.badge is None:
            from .config import BadgeConfig
            cfg.badge = BadgeConfig(port="loop://")
        self.runtime = Runtime(cfg, pin_factory=factory, broker_url=broker_url, outbox_path=outbox_path,
                               display_port=self.display_port, badge_port=self.badge_port,
                               reconnect_max_s=5.0)
        self._last_line = ""
        self._stop = threading.Event()
        self._renderer = threading.Thread(target=self._render_loop, name="sim-render", daemon=True)

    def start(self) -> None:
        self.runtime.start()
        self.out.write(HELP + "\n")
        self.out.flush()
        self._renderer.start()

    def stop(self, settle_s: float = 10.0) -> None:
        t = self.runtime.terminal
        end = time.monotonic() + settle_s
        while t is not None and t.busy and time.monotonic() < end:  # let an officer request finish
            time.sleep(0.05)
        self._stop.set()
        self._renderer.join(2.0)
        self.render(force=True)
        self.runtime.stop(flush_s=5.0)

    def press_pin(self, pin: int) -> None:
        press_pin(self.factory, pin, self.hold_s, self.gap_s)

    def key(self, ch: str) -> bool:
        """Handle one key; False for quit."""
        if ch == "q":
            return False
        if ch.isdigit() or ch in KEYS:
            pin = key_pin(self.config, ch)
            if pin is None:
                self.out.write(f"không có nút {ch} / no button {ch} (scale {self.config.rating.scale})\n")
            else:
                self.press_pin(pin)
        elif ch in ("b", "B"):
            self.badge_port.write(self.cards[0 if ch == "b" else 1].encode() + b"\r\n")
            time.sleep(0.3)  # the reader thread picks the line up before the next key
        elif not ch.isspace():
            self.out.write(f"phím không dùng / unused key {ch!r}\n")
        return True

    def line(self) -> str:
        st = self.runtime.hardware.led_states()
        leds = " ".join(f"{s}{'●' if on else '○'}" for s, on in sorted(st["leds"].items(), reverse=True))
        if "rgb" in st:
            leds = f"RGB {st['rgb']}"
        t = self.runtime.terminal
        assert t is not None
        officer = t.officer or "-"
        return (f"LED {leds} | còi/buzzer {'●' if st['buzzer'] else '○'} | trạng thái/status {st['status']}"
                f" | cán bộ/officer {officer} | màn hình/display {self.display_port.last}")

    def render(self, force: bool = False) -> None:
        line = self.line()
        if force or line != self._last_line:
            self._last_line = line
            self.out.write(line + "\n")
            self.out.flush()

    def _render_loop(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.render()
            except Exception:  # noqa: BLE001
                log.exception("render failed")


def read_keys(stream: TextIO, handle: Callable[[str], bool]) -> None:
    """Feed keys to handle() until it returns False or input ends."""
    fd = stream.fileno() if hasattr(stream, "fileno") else None
    if fd is not None and os.isatty(fd):
        import termios
        import tty
        old = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            while True:
                ch = os.read(fd, 1).decode("utf-8", "replace")
                if not ch or not handle(ch):
                    return
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
    for line in stream:
        for ch in line:
            if not handle(ch):
                return


def run(config: TerminalConfig, *, broker_url: str | None, outbox_path: str | None,
        stdin: TextIO | None = None, out: TextIO | None = None, factory: Any = None) -> int:
    sim = Simulator(config, factory or MockFactory(), out or sys.stdout, broker_url=broker_url,
                    outbox_path=outbox_path)
    sim.start()
    try:
        read_keys(stdin or sys.stdin, sim.key)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0
