"""The rating terminal's config tree (config/rating-terminal.toml), typed and strict.

Every GPIO pin is a BCM number from config; nothing about the wiring is hard-coded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from common.config import STRICT, load_config
from mqtt.client import BrokerConfig
from mqtt.scale import rating_label
from mqtt.schemas import Desk, Id

Pin = int  # BCM GPIO number

OFFICER_KEYS = ("call-next", "recall", "no-show", "finish")


def default_label(scale: int, score: int) -> tuple[str, str]:
    return rating_label(scale, score)


class RatingButton(BaseModel):
    """One citizen button: its score, its input pin and (optionally) its own LED."""

    model_config = STRICT
    score: int = Field(ge=1, le=5, description="1 .. scale, higher is better")
    pin: Pin = Field(ge=0, le=27, description="BCM pin of the button (to ground, internal pull-up)")
    led: Pin | None = Field(None, ge=0, le=27, description="BCM pin of this button's LED")
    label_vi: str | None = Field(None, description="default from the scale, e.g. 'Rất hài lòng'")
    label_en: str | None = Field(None, description="default from the scale, e.g. 'Very satisfied'")


class RgbConfig(BaseModel):
    """One RGB LED instead of an LED per button; colour per score (r, g, b in 0..1)."""

    model_config = STRICT
    red: Pin = Field(ge=0, le=27)
    green: Pin = Field(ge=0, le=27)
    blue: Pin = Field(ge=0, le=27)
    pwm: bool = Field(False, description="PWM pins allow mixed colours; without PWM use 0 or 1 only")
    colours: dict[str, tuple[float, float, float]] = Field(
        default_factory=lambda: {"5": (0.0, 1.0, 0.0), "4": (0.0, 1.0, 1.0), "3": (0.0, 0.0, 1.0),
                               "2": (1.0, 0.0, 1.0), "1": (1.0, 0.0, 0.0)},
        description="score -> (r, g, b)")

    @model_validator(mode="after")
    def _colours(self) -> "RgbConfig":
        for score, rgb in self.colours.items():
            if score not in {"1", "2", "3", "4", "5"}:
                raise ValueError(f"colours key {score!r} must be a score 1..5")
            if any(not 0 <= c <= 1 for c in rgb):
                raise ValueError(f"colour of score {score} {rgb} must have components in 0..1")
            if not self.pwm and any(c not in (0, 1) for c in rgb):
                raise ValueError(f"colour of score {score} {rgb}: without pwm = true use 0 or 1 only")
        return self


class RatingConfig(BaseModel):
    model_config = STRICT
    scale: Literal[3, 4, 5] = Field(5, description="number of rating buttons")
    buttons: list[RatingButton] = Field(min_length=3, max_length=5)
    rgb: RgbConfig | None = Field(None, description="one RGB LED instead of per-button LEDs")
    misuse_window_s: float = Field(5.0, ge=0, le=600,
                                   description="a press this soon after the previous press is flagged misuse")
    thanks_s: float = Field(1.5, gt=0, le=10, description="how long the thanks LED stays lit")
    beep_s: float = Field(0.08, gt=0, le=2, description="length of the thanks beep")

    @model_validator(mode="after")
    def _complete(self) -> "RatingConfig":
        scores = sorted(b.score for b in self.buttons)
        if scores != list(range(1, self.scale + 1)):
            raise ValueError(f"buttons must have scores 1..{self.scale} once each for scale {self.scale}, "
                             f"got {scores}")
        leds = [b.led is not None for b in self.buttons]
        if self.rgb is None and not all(leds):
            raise ValueError("give every button a 'led' pin, or one [rating.rgb] LED")
        if self.rgb is not None and any(leds):
            raise ValueError("use either per-button 'led' pins or [rating.rgb], not both")
        for b in self.buttons:
            vi, en = default_label(self.scale, b.score)
            b.label_vi = b.label_vi or vi
            b.label_en = b.label_en or en
        return self


class KeysConfig(BaseModel):
    """Officer keys (BCM pins, to ground, internal pull-up)."""

    model_config = STRICT
    call_next: Pin = Field(ge=0, le=27, description="gọi số tiếp theo / call next")
    recall: Pin = Field(ge=0, le=27, description="gọi lại / recall")
    no_show: Pin = Field(ge=0, le=27, description="vắng mặt / no-show")
    finish: Pin = Field(ge=0, le=27, description="hoàn thành / finish")

    def by_op(self) -> dict[str, int]:
        return {"call-next": self.call_next, "recall": self.recall, "no-show": self.no_show,
                "finish": self.finish}


class HardwareConfig(BaseModel):
    model_config = STRICT
    buzzer: Pin = Field(ge=0, le=27)
    status_led: Pin = Field(ge=0, le=27, description="on: connected; blink: buffering; fast blink: fault")
    keys: KeysConfig
    debounce_ms: float = Field(30.0, ge=0, le=500, description="edges closer than this are contact bounce")
    active_buzzer: bool = Field(True, description="an active buzzer (on/off); passive buzzers are not supported")


class OfficerConfig(BaseModel):
    model_config = STRICT
    request_timeout_s: float = Field(2.0, gt=0, le=30, description="wait this long for ticketing's answer")
    attempts: int = Field(3, ge=1, le=10, description="tries with the same request id before giving up")
    ticketing_device: Id = Field("ticketing", description="device id of ticketing (its status topic)")
    message_s: float = Field(4.0, gt=0, le=60, description="how long an answer message stays on the display")


class DisplayConfig(BaseModel):
    model_config = STRICT
    port: str = Field(description="serial device or pyserial URL, e.g. /dev/ttyUSB0 or loop://")
    baudrate: int = Field(9600, ge=1200, le=921600)
    model: Literal["line", "cd5220"] = Field("line", description="'line': docs/rating_terminal.md protocol; "
                                             "'cd5220': 2x20 VFD customer display")
    encoding: Literal["utf-8", "ascii"] = Field("utf-8", description="ascii folds Vietnamese diacritics")
    width: int = Field(20, ge=4, le=80, description="characters per line")


class BadgeConfig(BaseModel):
    model_config = STRICT
    port: str = Field(description="serial device or pyserial URL of the badge reader (one card id per line)")
    baudrate: int = Field(9600, ge=1200, le=921600)
    cards: dict[str, str] = Field(default_factory=dict, description="card id -> officer id")
    unknown_cards: Literal["use_card_id", "reject"] = Field(
        "use_card_id", description="a card not in 'cards' signs in with the card id as officer id, or is refused")


class TerminalConfig(BaseModel):
    model_config = STRICT
    site: Id
    device: Id
    desk: Desk
    outbox: Path = Field(Path("/var/lib/motcua/rating-terminal/outbox.db"), description="durable outbox file")
    timezone: str = "Asia/Ho_Chi_Minh"
    telemetry_interval_s: float = Field(60.0, ge=0, le=3600)
    mqtt: BrokerConfig = Field(default_factory=BrokerConfig)
    rating: RatingConfig
    hardware: HardwareConfig
    officer: OfficerConfig = Field(default_factory=OfficerConfig)
    display: DisplayConfig | None = None
    badge: BadgeConfig | None = None

    @field_validator("mqtt")
    @classmethod
    def _url(cls, v: BrokerConfig) -> BrokerConfig:
        v.endpoint()
        return v

    @model_validator(mode="after")
    def _pins_unique(self) -> "TerminalConfig":
        used: dict[int, str] = {}

        def take(pin: int | None, what: str) -> None:
            if pin is None:
                return
            if pin in used:
                raise ValueError(f"GPIO{pin} is used twice: by {used[pin]} and by {what}")
            used[pin] = what

        for b in self.rating.buttons:
            take(b.pin, f"rating button {b.score}")
            take(b.led, f"LED of rating button {b.score}")
        if self.rating.rgb:
            for c in ("red", "green", "blue"):
                take(getattr(self.rating.rgb, c), f"RGB LED {c}")
        take(self.hardware.buzzer, "buzzer")
        take(self.hardware.status_led, "status LED")
        for op, pin in self.hardware.keys.by_op().items():
            take(pin, f"officer key {op}")
        return self


def load(path: str | Path) -> TerminalConfig:
    """Load and validate; raises common.errors.ConfigError naming file:line: key."""
    return load_config(path, TerminalConfig)
