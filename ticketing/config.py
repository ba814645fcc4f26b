"""Config models: the site (services, desks, hours, priority classes) and the ticketing process.

The site config (``config/site.toml``) is owned by ticketing and published as retained
``state/site`` (:meth:`SiteConfig.to_state`), so kiosks and terminals need no local copy.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

from common.clock import DEFAULT_TZ
from common.config import STRICT, load_config
from mqtt.client import BrokerConfig
from mqtt.schemas import DeskInfo, ServiceInfo, SiteState

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

Priority = Literal["elderly", "disabled", "pregnant", "appointment"]
PRIORITY_CLASSES: tuple[Priority, ...] = ("elderly", "disabled", "pregnant", "appointment")


class Service(BaseModel):
    """One service (lĩnh vực) with its own number range and daily capacity."""

    model_config = STRICT
    code: str = Field(pattern=r"^[A-Z0-9]{1,8}$", description="upper-case code, e.g. HT")
    name_vi: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    prefix: str = Field("", pattern=r"^[A-Z]{0,2}$", description="letter(s) printed before the number")
    range_start: int = Field(ge=0, le=999_999)
    range_end: int = Field(ge=0, le=999_999)
    capacity: int = Field(ge=1, description="most numbers issued for this service per local day")
    target_wait_min: float = Field(15, gt=0, le=600, description="service-level target wait")
    field_vi: str | None = Field(None, description="group (lĩnh vực) on the kiosk, e.g. 'Tư pháp – Hộ tịch'")
    field_en: str | None = None

    @model_validator(mode="after")
    def _range(self) -> "Service":
        if self.range_end < self.range_start:
            raise ValueError(f"range_end {self.range_end} is below range_start {self.range_start}")
        size = self.range_end - self.range_start + 1
        if self.capacity > size:
            raise ValueError(f"capacity {self.capacity} is larger than the number range "
                             f"{self.range_start}-{self.range_end} ({size} numbers)")
        return self

    def label(self, number: int) -> str:
        return f"{self.prefix}{number}"


class Desk(BaseModel):
    model_config = STRICT
    number: int = Field(ge=1, le=999)
    services: list[str] = Field(min_length=1, description="service codes this desk calls")
    name_vi: str | None = None
    name_en: str | None = None


class SiteConfig(BaseModel):
    """config/site.toml: everything about one centre that ticketing publishes as state/site."""

    model_config = STRICT
    site: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    name_vi: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    timezone: str = DEFAULT_TZ
    priority_classes: list[Priority] = Field(
        default_factory=lambda: list(PRIORITY_CLASSES),
        description="called first, in this order, before other tickets")
    transfer_keeps_place: bool = Field(
        True, description="a transferred ticket keeps its original place in the new service's queue")
    rating_scale: Literal[3, 4, 5] = 5
    recall_cooldown_s: float = Field(0, ge=0, le=600, description="seconds after a call before a recall is "
                                     "accepted (a quicker recall is refused: recall_too_soon)")
    recall_max: int = Field(20, ge=0, le=20, description="most recalls of one ticket (then recall_limit)")
    no_show_after_calls: int = Field(1, ge=1, le=20, description="calls (first call + recalls) before a "
                                     "ticket may be marked no-show (sooner: no_show_too_soon)")
    closing_policy: Literal["expire", "keep", "midnight"] = Field(
        "expire", description="at the day's last closing time: 'expire' closes the tickets still waiting "
        "or being served (an `expired` event each); 'keep': the waiting ones are kept for the next working "
        "day's queue, in order, with their own numbers (a `carried` event each; ticketing/closing.py); "
        "'midnight': they stay callable until the local day ends (then they expire)")
    portal_url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
                                   description="citizen portal's public address, e.g. https://ve.camau-hcc.vn")
    appointment_capacity: int = Field(0, ge=0, le=100, description="bookings per slot and service; 0: "
                                      "no appointments (ticketing/appointments.py)")
    appointment_slot_min: int = Field(30, ge=5, le=240, description="slot length in minutes, from each opening")
    appointment_early_min: int = Field(15, ge=0, le=240, description="check-in accepted this early before the slot")
    appointment_late_min: int = Field(10, ge=0, le=240, description="check-in accepted this late after the slot "
                                      "start; later it is refused, and after the slot's end + this, missed")
    appointment_days_ahead: int = Field(14, ge=0, le=90, description="bookable days from today")
    appointment_services: list[str] | None = Field(None, description="services that take bookings; unset: all")
    hours: dict[str, list[tuple[str, str]]] = Field(default_factory=dict)
    closed_days: list[str] = Field(default_factory=list)
    services: list[Service] = Field(min_length=1)
    desks: list[Desk] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as {DEFAULT_TZ!r}") from None
        return v

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
        for day, spans in v.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}; use {', '.join(WEEKDAYS)}")
            for start, end in spans:
                for t in (start, end):
                    if not _HHMM.match(t):
                        raise ValueError(f"{day}: time {t!r} is not HH:MM (24 h), e.g. '07:30'")
                if start >= end:
                    raise ValueError(f"{day}: opening {start} is not before closing {end}")
        return v

    @field_validator("closed_days")
    @classmethod
    def _closed(cls, v: list[str]) -> list[str]:
        for d in v:
            try:
                datetime.strptime(d, "%Y-%m-%d")
            except ValueError:
                raise ValueError(f"closed day {d!r} is not YYYY-MM-DD") from None
        return v

    @model_validator(mode="after")
    def _cross(self) -> "SiteConfig":
        codes = [s.code for s in self.services]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"service code(s) {', '.join(sorted(dup))} listed twice")
        nums = [d.number for d in self.desks]
        dupd = {n for n in nums if nums.count(n) > 1}
        if dupd:
            raise ValueError(f"desk number(s) {', '.join(map(str, sorted(dupd)))} listed twice")
        for d in self.desks:
            for code in d.services:
                if code not in codes:
                    raise ValueError(f"desk {d.number} handles unknown service {code!r}; "
                                     f"known: {', '.join(codes)}")
        for code in self.appointment_services or []:
            if code not in codes:
                raise ValueError(f"appointment_services names unknown service {code!r}; known: {', '.join(codes)}")
        if len(set(self.priority_classes)) != len(self.priority_classes):
            raise ValueError("priority_classes lists a class twice")
        ss = sorted(self.services, key=lambda s: (s.prefix, s.range_start))
        for a, b in zip(ss, ss[1:]):
            if a.prefix == b.prefix and b.range_start <= a.range_end:
                raise ValueError(f"services {a.code} and {b.code} share prefix {a.prefix!r} and their "
                                 f"number ranges overlap ({a.range_start}-{a.range_end}, "
                                 f"{b.range_start}-{b.range_end}): numbers would repeat within a day")
        return self

    # -- lookups ------------------------------------------------------------------------------

    def service(self, code: str) -> Service | None:
        return next((s for s in self.services if s.code == code), None)

    def desk(self, number: int) -> Desk | None:
        return next((d for d in self.desks if d.number == number), None)

    def priority_rank(self, priority: str | None) -> int:
        """0 for the first priority class, ...; len(classes) for a class not listed; 99 for none."""
        if priority is None:
            return 99
        try:
            return self.priority_classes.index(priority)  # type: ignore[arg-type]
        except ValueError:
            return len(self.priority_classes)

    def to_state(self, ts: datetime | None = None) -> SiteState:
        return SiteState(
            site=self.site, name_vi=self.name_vi, name_en=self.name_en, timezone=self.timezone,
            services=[ServiceInfo(code=s.code, name_vi=s.name_vi, name_en=s.name_en, prefix=s.prefix,
                                  range_start=s.range_start, range_end=s.range_end, capacity=s.capacity,
                                  target_wait_min=s.target_wait_min, field_vi=s.field_vi, field_en=s.field_en)
                      for s in self.services],
            desks=[DeskInfo(number=d.number, services=list(d.services), name_vi=d.name_vi, name_en=d.name_en)
                   for d in self.desks],
            hours={k: [tuple(x) for x in v] for k, v in self.hours.items()},  # type: ignore[misc]
            closed_days=list(self.closed_days), priority_classes=list(self.priority_classes),
            rating_scale=self.rating_scale, portal_url=self.portal_url, ts=ts)


class TicketingConfig(BaseModel):
    """config/ticketing.toml: the process (broker, database, where the site config is)."""

    model_config = STRICT
    mqtt: BrokerConfig = Field(default_factory=BrokerConfig)
    device: str = Field("ticketing", pattern=r"^[a-z0-9-]{1,32}$", description="this process's device id")
    site_config: str = Field("site.toml", description="path of site.toml; relative to this file")
    db: str = Field("/var/lib/motcua/ticketing.db", description="queue database (SQLite)")
    outbox: str | None = Field(None, description="event outbox; default: next to db")
    lease_block: int = Field(50, ge=1, le=1000, description="numbers per lease when a kiosk asks no count")
    lease_max: int = Field(100, ge=1, le=1000, description="most numbers one lease gives, whatever is asked")
    lease_held_max: int = Field(300, ge=1, le=10000, description="most leased numbers a kiosk may hold unissued "
                                "per service and day; beyond it a lease is refused (lease_limit)")
    devices: str | None = Field(None, description="device registry (devices.toml, written by provision-device); "
                                "relative to this file. Unset: every device is trusted (development only)")
    recent_finished: int = Field(20, ge=1, le=500, description="finished tickets averaged for the wait estimate")
    probe_timeout_s: float = Field(2.0, ge=0.1, le=30, description="how long to wait for a live twin to answer")

    def outbox_path(self) -> Path:
        return Path(self.outbox) if self.outbox else Path(self.db).with_name(Path(self.db).stem + "-outbox.db")


def load_site(path: str | Path) -> SiteConfig:
    return load_config(path, SiteConfig)


def load_ticketing(path: str | Path) -> tuple[TicketingConfig, SiteConfig]:
    """Load ticketing.toml and the site.toml it names (relative paths: next to ticketing.toml)."""
    cfg = load_config(path, TicketingConfig)
    if cfg.devices and not Path(cfg.devices).is_absolute():
        cfg.devices = str(Path(path).resolve().parent / cfg.devices)
    site_path = Path(cfg.site_config)
    if not site_path.is_absolute():
        site_path = Path(path).resolve().parent / site_path
        cfg.site_config = str(site_path)
    return cfg, load_site(site_path)
