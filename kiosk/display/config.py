"""The hall display's config (config/display.toml): site, device, broker, screen and voice."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from common.clock import DEFAULT_TZ
from common.config import STRICT
from mqtt.client import BrokerConfig


class ScreenConfig(BaseModel):
    """``[screen]``: the window. 1920x1080 and 1280x720 are the sizes the layout is tested at."""

    model_config = STRICT
    size: tuple[int, int] = Field((1920, 1080), description="window size [width, height] in pixels")
    fullscreen: bool = Field(False, description="true on the hall TV")
    recent: int = Field(6, ge=1, le=12, description="how many earlier calls to list")
    flash_s: float = Field(6.0, ge=0, le=60, description="how long a new call blinks")
    cards: int = Field(4, ge=1, le=12, description="waiting cards per page (4 keep 40 px text at 1080p)")
    page_s: float = Field(8.0, ge=2, le=120, description="seconds per page of waiting cards")

    @field_validator("size")
    @classmethod
    def _sane_size(cls, v: tuple[int, int]) -> tuple[int, int]:
        w, h = v
        if not (640 <= w <= 7680 and 360 <= h <= 4320):
            raise ValueError(f"size {list(v)} is not a screen: use e.g. [1920, 1080] or [1280, 720]")
        return v


class VoiceConfig(BaseModel):
    """``[voice]``: chime, then the call in Vietnamese (and English if asked), ``repeat`` times."""

    model_config = STRICT
    enabled: bool = Field(True, description="false: a plain chime for each call")
    repeat: int = Field(2, ge=1, le=5, description="how many times the sentence is said")
    english: bool = Field(False, description="add 'Ticket 1023, please go to desk 5'")
    voice_vi: str = Field("vi", description="espeak-ng voice for Vietnamese")
    voice_en: str = Field("en", description="espeak-ng voice for English")
    speed_wpm: int = Field(140, ge=80, le=400, description="espeak-ng words per minute")
    numbers: Literal["number", "digits"] = Field(
        "number", description="'number': một nghìn không trăm hai mươi ba; 'digits': một không hai ba "
                              "(labels with a prefix such as X26 are always read letter by letter)")
    dialect: Literal["north", "south"] = Field("north", description="north: linh, nghìn; south: lẻ, ngàn")
    clips_dir: str | None = Field(
        None, description="recorded words: <clips_dir>/<voice>/<word>.wav (e.g. vi/mời.wav, vi/mươi.wav, or a "
                          "phrase vi/mời_công_dân_có_số.wav), used instead of espeak-ng when every word is there")
    espeak: str = Field("espeak-ng", description="the espeak-ng program")
    player: list[str] = Field(default_factory=lambda: ["aplay", "-q"],
                              description="command that plays a WAV file (the file is appended); [] = silent")
    cache_dir: str = Field("/var/cache/motcua/display", description="rendered clips are kept here")
    gap_s: float = Field(0.5, ge=0, le=5, description="silence between chime and sentences")
    volume: float = Field(0.8, gt=0, le=1)
    announce_max_age_s: float = Field(
        30.0, ge=0, le=3600,
        description="at start-up (retained state) only calls younger than this are announced")


class DisplayConfig(BaseModel):
    """The whole display config file."""

    model_config = STRICT
    site: str = Field(pattern=r"^[a-z0-9-]{1,32}$", description="site id, e.g. camau-hcc")
    device: str = Field("display-01", pattern=r"^[a-z0-9-]{1,32}$")
    timezone: str = DEFAULT_TZ
    mqtt: BrokerConfig = Field(default_factory=BrokerConfig)
    screen: ScreenConfig = Field(default_factory=ScreenConfig)
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
