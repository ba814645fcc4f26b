"""The desk's GPIO devices, built from config with an injected gpiozero pin factory.

``Hardware`` turns debounced button presses into ``when_rated_pressed(score)`` and
``when_key_pressed(op)`` calls, and implements the terminal's feedback (thanks, error pattern,
busy beep, status LED). Tests and ``--simulate`` pass ``pin_factory=MockFactory()``.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from gpiozero import LED, RGBLED, Button, Buzzer, Device
from gpiozero.exc import GPIOZeroError

from .config import TerminalConfig
from .debounce import Debouncer
from .errors import BadPins

log = logging.getLogger(__name__)

STATUS_MODES = ("connected", "buffering", "fault")


class _Pulse:
    """Switch an output on now and off after a while; a new pulse extends the old one."""

    def __init__(self, on: Callable[[], None], off: Callable[[], None]):
        self._on, self._off = on, off
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._on()
            self._timer = threading.Timer(seconds, self._off)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


class Hardware:
    """Rating buttons with LEDs (or one RGB LED), a buzzer, officer keys and a status LED."""

    def __init__(self, config: TerminalConfig, pin_factory: Any = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.config = config
        self.factory = pin_factory
        self.when_rated_pressed: Callable[[int], object] | None = None  # what it returns is ignored
        self.when_key_pressed: Callable[[str], object] | None = None
        self._devices: list[Device] = []
        rc, hw = config.rating, config.hardware
        window = hw.debounce_ms / 1000
        self.debouncers: dict[str, Debouncer] = {}
        self.buttons: dict[int, Button] = {}
        self.leds: dict[int, LED] = {}
        self.rgb: RGBLED | None = None
        self.keys: dict[str, Button] = {}
        self.status_mode = "buffering"
        try:
            for b in rc.buttons:
                deb = Debouncer(window, self._rated_cb(b.score), monotonic)
                self.debouncers[f"rating-{b.score}"] = deb
                self.buttons[b.score] = self._button(b.pin, deb)
                if b.led is not None:
                    self.leds[b.score] = self._add(LED(b.led, pin_factory=pin_factory))
            if rc.rgb is not None:
                self.rgb = self._add(RGBLED(rc.rgb.red, rc.rgb.green, rc.rgb.blue, pwm=rc.rgb.pwm,
                                            pin_factory=pin_factory))
            for op, pin in hw.keys.by_op().items():
                deb = Debouncer(window, self._key_cb(op), monotonic)
                self.debouncers[op] = deb
                self.keys[op] = self._button(pin, deb)
            self.buzzer = self._add(Buzzer(hw.buzzer, pin_factory=pin_factory))
            self.status_led = self._add(LED(hw.status_led, pin_factory=pin_factory))
        except GPIOZeroError as exc:
            self.close()
            raise BadPins(f"cannot set up the desk's GPIO devices: {exc} (check the pins in [rating] "
                          f"and [hardware] of the config, and that no other program uses them)") from exc
        self._thanks_led = {s: _Pulse(led.on, led.off) for s, led in self.leds.items()}
        self._thanks_rgb = _Pulse(self._rgb_on, self._rgb_off)
        self._rgb_score = 0
        self._beep = _Pulse(self.buzzer.on, self.buzzer.off)
        self.set_status("buffering")

    # -- building --------------------------------------------------------------------------------

    def _add(self, dev: Any) -> Any:
        self._devices.append(dev)
        return dev

    def _button(self, pin: int, deb: Debouncer) -> Button:
        # bounce_time=None: debouncing is ours (mock pins ignore bounce_time, real ones differ)
        btn = self._add(Button(pin, pull_up=True, bounce_time=None, pin_factory=self.factory))
        btn.when_pressed = lambda: deb.edge(True)
        btn.when_released = lambda: deb.edge(False)
        return btn

    def _rated_cb(self, score: int) -> Callable[[], None]:
        def pressed() -> None:
            if self.when_rated_pressed is not None:
                self.when_rated_pressed(score)
        return pressed

    def _key_cb(self, op: str) -> Callable[[], None]:
        def pressed() -> None:
            if self.when_key_pressed is not None:
                self.when_key_pressed(op)
        return pressed

    def close(self) -> None:
        for p in getattr(self, "_thanks_led", {}).values():
            p.cancel()
        for name in ("_thanks_rgb", "_beep"):
            if hasattr(self, name):
                getattr(self, name).cancel()
        for dev in reversed(self._devices):
            try:
                dev.close()
            except Exception:  # noqa: BLE001 - closing the rest matters more
                log.exception("closing %r failed", dev)
        self._devices.clear()

    # -- feedback (the Terminal calls these) ----------------------------------------------------

    def _rgb_on(self) -> None:
        assert self.rgb is not None and self.config.rating.rgb is not None
        self.rgb.color = self.config.rating.rgb.colours.get(str(self._rgb_score), (0, 1, 0))

    def _rgb_off(self) -> None:
        assert self.rgb is not None
        self.rgb.off()

    def thanks(self, score: int) -> None:
        """Light the pressed button's LED (or the RGB LED in its colour) and beep once."""
        rc = self.config.rating
        if self.rgb is not None:
            self._rgb_score = score
            self._thanks_rgb(rc.thanks_s)
        elif score in self._thanks_led:
            self._thanks_led[score](rc.thanks_s)
        self._beep(rc.beep_s)

    def busy(self) -> None:
        """A short beep: the key was ignored because a request is already in flight."""
        self._beep(0.03)

    def error(self) -> None:
        """Error pattern: three beeps and the rating LEDs (or the RGB LED, red) flash three times."""
        self.buzzer.beep(on_time=0.1, off_time=0.1, n=3, background=True)
        if self.rgb is not None:
            self.rgb.blink(on_time=0.1, off_time=0.1, on_color=(1, 0, 0), n=3, background=True)
        for led in self.leds.values():
            led.blink(on_time=0.1, off_time=0.1, n=3, background=True)

    def set_status(self, mode: str) -> None:
        """connected: steady on; buffering (offline or outbox not empty): blink; fault: fast blink."""
        if mode not in STATUS_MODES:
            raise ValueError(f"status mode {mode!r} is not one of {STATUS_MODES}")
        self.status_mode = mode
        if mode == "connected":
            self.status_led.on()
        elif mode == "buffering":
            self.status_led.blink(on_time=0.5, off_time=0.5, background=True)
        else:
            self.status_led.blink(on_time=0.1, off_time=0.1, background=True)

    # -- for --simulate and tests ---------------------------------------------------------------

    def led_states(self) -> dict[str, Any]:
        """What the outputs show now: LED per score (bool), RGB colour, buzzer, status mode."""
        out: dict[str, Any] = {"leds": {s: bool(led.is_lit) for s, led in sorted(self.leds.items())}}
        if self.rgb is not None:
            out["rgb"] = tuple(round(c, 2) for c in self.rgb.color)
        out["buzzer"] = bool(self.buzzer.is_active)
        out["status"] = self.status_mode
        return out
