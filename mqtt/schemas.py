"""Versioned message models: the envelope, every event's data, requests, responses and state.

Field names of the envelope are fixed by DESIGN.md. Parsing never lets a bad payload through:
:func:`parse_event` raises :class:`ProtocolError` whose ``reason`` and message say exactly what
was wrong (the collector stores both in its dead letters).
"""
from __future__ import annotations

import random
import time
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from . import topics

SCHEMA_VERSION = 1
MAX_PAYLOAD = 64 * 1024

Id = Annotated[str, Field(pattern=topics.ID_PATTERN)]
ServiceCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,8}$", description="service code, e.g. HT")]
Desk = Annotated[int, Field(ge=1, le=999)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def dumps(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode()


M = TypeVar("M", bound=Model)


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7): unique and index-friendly."""
    ms = time.time_ns() // 1_000_000
    rnd = random.getrandbits(80)  # seeded from the OS and re-seeded after fork; no syscall per id
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rnd >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rnd & ((1 << 62) - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Every time on the wire carries its offset (a time without one is refused by every model) and is
# written with milliseconds (docs/protocol.md).
NEEDS_OFFSET = "time must carry a UTC offset, e.g. 2026-11-23T09:15:02.123+07:00"


def _wire_time(v: datetime) -> str:
    """Every time on the wire: ISO 8601 with milliseconds and its offset (docs/protocol.md)."""
    return v.isoformat(timespec="milliseconds")


AwareTime = Annotated[AwareDatetime, PlainSerializer(_wire_time, return_type=str, when_used="json"),
                      Field(description="ISO 8601 with milliseconds and offset, e.g. 2026-11-23T09:15:02.123+07:00")]


# -- event data ---------------------------------------------------------------------------------

class RatingData(Model):
    desk: Desk
    score: int = Field(ge=1, le=5)
    scale: Literal[3, 4, 5]
    ticket: str | None = None
    service: ServiceCode | None = None
    officer: str | None = None
    misuse: bool = False
    misuse_reason: Literal["same_ticket", "too_soon"] | None = None
    channel: Literal["desk", "phone"] = Field("desk", description="desk terminal or the citizen's phone (portal)")
    comment: str | None = Field(None, max_length=500, description="phone only; shown to managers only")

    @model_validator(mode="after")
    def _score_in_scale(self) -> "RatingData":
        if self.score > self.scale:
            raise ValueError(f"score {self.score} is above the scale {self.scale}")
        return self


TicketAction = Literal["issued", "called", "recalled", "no_show", "transferred", "finished", "cancelled",
                       "expired", "carried"]
Priority = Literal["elderly", "disabled", "pregnant", "appointment"]


class TicketData(Model):
    action: TicketAction
    ticket: str = Field(description="printed label, e.g. '1023' or 'A023'")
    number: int = Field(ge=0)
    day: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="local day the number belongs to")
    service: ServiceCode
    priority: Priority | None = None
    appointment: str | None = None
    desk: Desk | None = None
    officer: str | None = None
    kiosk: str | None = None
    issued_at: AwareTime | None = None
    people_ahead: int | None = Field(default=None, ge=0)
    wait_s: float | None = Field(default=None, ge=0)
    service_s: float | None = Field(default=None, ge=0)
    to_service: ServiceCode | None = None
    offline: bool = False
    print_failed: bool = Field(default=False, description="issued: the kiosk could not print this number; "
                               "ticketing does not queue it")
    queue_day: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$",
                                  description="the day whose queue the ticket waits in when it is not `day`: "
                                  "kept for the next working day at closing (action carried)")


AppointmentAction = Literal["booked", "cancelled", "checked_in", "missed"]


class AppointmentData(Model):
    """An appointment (lịch hẹn) changed: booked, cancelled, checked in (``ticket`` is its
    priority ticket) or missed (not checked in by the slot's end + the late window)."""

    action: AppointmentAction
    code: str = Field(pattern=r"^[0-9]{6}$")
    day: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    service: ServiceCode
    start: str = Field(pattern=r"^\d{2}:\d{2}$", description="slot start, local HH:MM")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")
    source: str | None = Field(default=None, description="who booked: portal device or the online-service API")
    ticket: str | None = None


class PresenceData(Model):
    desk: Desk
    zone: Literal["officer", "citizen"]
    kind: Literal["change", "summary"] = "change"
    present: bool | None = Field(description="null: unknown (view blocked, too dark, camera froze; a fault says why)")
    since: AwareTime
    window_s: float | None = Field(default=None, gt=0, description="summary window")
    occupied_share: float | None = Field(default=None, ge=0, le=1,
                                         description="summary: share of the window's KNOWN time the zone was "
                                         "occupied (null when it was unknown all window)")
    changes: int | None = Field(default=None, ge=0)
    unknown_share: float | None = Field(default=None, ge=0, le=1,
                                        description="summary: share of the window the zone was unknown")


class FaultData(Model):
    code: str = Field(pattern=r"^[a-z0-9_]{1,48}$", description="e.g. printer_paper_out")
    active: bool = Field(description="true when raised, false when cleared")
    message_vi: str
    message_en: str
    detail: str | None = None


class DeskData(Model):
    desk: Desk
    action: Literal["sign_in", "sign_out"]
    officer: str | None = None
    badge: str | None = None


class FeedbackData(Model):
    """Phản ánh, kiến nghị from the portal: shown to managers only (phone number, text)."""

    kind: Literal["complaint", "suggestion"]
    text: str = Field(min_length=1, max_length=2000)
    ticket: str | None = Field(None, max_length=16)
    day: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    phone: str | None = Field(None, pattern=r"^\+?[0-9 ]{8,15}$", description="for a call back, with consent")
    consent: bool = Field(description="the citizen agreed to the consent text shown")


EVENT_DATA: dict[str, type[Model]] = {  # one per topics.EVENT_TYPES, in order (tests/mqtt/test_event_types.py)
    "rating": RatingData,
    "ticket": TicketData,
    "presence": PresenceData,
    "fault": FaultData,
    "desk": DeskData,
    "feedback": FeedbackData,
    "appointment": AppointmentData,
}


class Envelope(Model):
    """Every event has this envelope (field names fixed by DESIGN.md)."""

    v: Literal[1]
    id: str = Field(min_length=1, max_length=64)
    seq: int = Field(ge=0)
    ts: AwareTime
    clock_synced: bool
    site: Id
    device: Id
    type: topics.EventType
    data: dict[str, Any]

    def typed_data(self) -> Model:
        return EVENT_DATA[self.type].model_validate(self.data)


# -- device status and telemetry ------------------------------------------------------------------

class Status(Model):
    """Retained device status. ``cause`` says why a device is offline: ``stop`` (a clean stop, ``ts``
    is when it stopped) or ``lost`` (the Last Will, sent by the broker when the connection was
    lost: ``ts`` is null because the device cannot know that time; use when it was received)."""

    v: Literal[1] = 1
    state: Literal["online", "offline"]
    device: Id
    role: str
    version: str
    desk: int | None = None
    ts: AwareTime | None = None
    cause: Literal["stop", "lost"] | None = None


class UpdateCommand(Model):
    """cmd/update to a device: install the site server's latest release (ops/update.py)."""
    v: Literal[1] = 1
    id: str = Field(default_factory=uuid7)
    version: str | None = Field(None, max_length=64, description="the release expected; None: the latest")
    force: bool = False
    ts: AwareTime | None = None


class UpdateState(Model):
    """Retained on dev/{device}/state/update: where the device's last update stands."""
    v: Literal[1] = 1
    device: Id
    state: Literal["idle", "updating", "current", "updated", "rolled-back", "failed"]
    version: str = Field(max_length=64, description="the version running now")
    target: str = Field("", max_length=64)
    command: str | None = None
    detail: str = Field("", max_length=2000)
    ts: AwareTime


class Telemetry(Model):
    v: Literal[1] = 1
    ts: AwareTime
    uptime_s: float
    cpu_temp_c: float | None = None
    disk_free_mb: float | None = None
    outbox_depth: int
    clock_synced: bool
    extra: dict[str, Any] = Field(default_factory=dict, description="role-specific, e.g. fps")
    # the outbox's seqs, for the collector to see events lost before the first or after the last
    # it stored (docs/protocol.md, "Confirmed delivery"); None on devices without an outbox
    seq_first: int | None = Field(None, ge=0, description="the first seq the outbox ever assigned")
    seq_last: int | None = Field(None, ge=0, description="the newest seq assigned")
    seq_oldest_held: int | None = Field(None, ge=0, description="the oldest seq still held; None: none")
    storage: Literal["ok", "disk_full", "read_only", "io"] = "ok"


class Stored(Model):
    """The collector's confirmation on ``dev/{device}/stored``: these seqs of the device are in
    its store (stored now, or found already stored). The device may forget exactly these."""

    v: Literal[1] = 1
    seqs: list[tuple[int, int]] = Field(description="inclusive ranges [first, last], ascending")
    by: str = Field("collector", description="which store confirms (the site's collector)")
    ts: AwareTime | None = None


# -- requests and responses to ticketing ----------------------------------------------------------

class Request(Model):
    """A request on req/{op}. ``id`` is the idempotency key: a retry carries the same id and
    gets the same answer."""

    v: Literal[1] = 1
    id: str = Field(min_length=1, max_length=64)
    device: Id
    desk: Desk | None = None
    officer: str | None = None
    service: ServiceCode | None = None
    count: int | None = Field(default=None, ge=1, le=1000, description="lease: numbers wanted")
    to_service: ServiceCode | None = None
    keep_place: bool | None = None
    ts: AwareTime | None = None
    appointment: str | None = Field(default=None, max_length=16, description="cancel, check-in: the code")
    day: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="book, slots: local day")
    slot: str | None = Field(default=None, pattern=r"^\d{2}:\d{2}$", description="book: slot start HH:MM")
    source: str | None = Field(default=None, max_length=64, description="book: on whose behalf (API client)")


class Lease(Model):
    service: ServiceCode
    day: str
    start: int
    end: int = Field(description="inclusive")
    prefix: str = ""


class TicketInfo(Model):
    ticket: str
    number: int
    day: str
    service: ServiceCode
    priority: Priority | None = None
    issued_at: AwareTime | None = None
    called_at: AwareTime | None = None
    wait_s: float | None = None


class Response(Model):
    v: Literal[1] = 1
    request_id: str
    ok: bool
    error: str | None = Field(default=None, description="machine code, e.g. queue_empty")
    message_vi: str | None = None
    message_en: str | None = None
    ticket: TicketInfo | None = None
    lease: Lease | None = None
    waiting: int | None = None
    appointment: "AppointmentInfo | None" = None
    slots: "list[SlotInfo] | None" = None


class SlotInfo(Model):
    """A bookable slot of one service and day (``free`` places left of ``capacity``)."""

    start: str
    end: str
    capacity: int
    free: int


class AppointmentInfo(Model):
    code: str
    day: str
    service: ServiceCode
    start: str
    end: str
    status: Literal["booked", "cancelled", "checked_in", "missed"]
    ticket: str | None = None


Response.model_rebuild()


# -- retained state ---------------------------------------------------------------------------------

class ServiceInfo(Model):
    code: ServiceCode
    name_vi: str
    name_en: str
    prefix: str = ""
    range_start: int = Field(ge=0)
    range_end: int = Field(ge=0)
    capacity: int = Field(ge=1)
    target_wait_min: float = Field(gt=0)
    field_vi: str | None = Field(default=None, description="lĩnh vực: the kiosk groups services by it")
    field_en: str | None = None


class DeskInfo(Model):
    number: Desk
    services: list[ServiceCode]
    name_vi: str | None = None
    name_en: str | None = None


class SiteState(Model):
    v: Literal[1] = 1
    site: Id
    name_vi: str
    name_en: str
    timezone: str
    services: list[ServiceInfo]
    desks: list[DeskInfo]
    hours: dict[str, list[tuple[str, str]]] = Field(
        description="weekday (mon..sun) -> [[open, close], ...] local times 'HH:MM'")
    closed_days: list[str] = Field(default_factory=list, description="holidays, YYYY-MM-DD")
    priority_classes: list[Priority]
    rating_scale: Literal[3, 4, 5] = 5
    portal_url: str | None = Field(None, description="the citizen portal's public address (ticket QR codes)")
    ts: AwareTime | None = None


class DeskState(Model):
    v: Literal[1] = 1
    desk: Desk
    officer: str | None = None
    ticket: str | None = None
    number: int | None = None
    day: str | None = None
    service: ServiceCode | None = None
    priority: Priority | None = None
    called_at: AwareTime | None = None
    status: Literal["idle", "serving", "closed"] = "idle"
    carried_from: str | None = Field(None, description="the ticket's own day when it was kept from an earlier "
                                     "day's closing (its printed number is of that day)")
    ts: AwareTime | None = None


class ServiceState(Model):
    v: Literal[1] = 1
    service: ServiceCode
    day: str
    waiting: int = Field(ge=0)
    issued: int = Field(ge=0)
    capacity: int = Field(ge=1)
    finished_for_today: bool = False
    est_wait_s: float | None = None
    waiting_by_priority: dict[str, int] = Field(
        default_factory=dict, description="waiting per priority class ('' = regular); sums to waiting")
    oldest_issued_at: AwareTime | None = None
    last_called: str | None = None
    queue: list[str] | None = Field(None, description="waiting tickets in call order (the portal's people ahead)")
    ts: AwareTime | None = None


class NumberingState(Model):
    """A kiosk's retained dev/{kiosk}/state/numbering: ``offline`` while it issues numbers from its
    leases because ticketing is unreachable (the hall display then explains out-of-order numbers)."""

    v: Literal[1] = 1
    offline: bool
    since: AwareTime | None = None
    ts: AwareTime | None = None


class Call(Model):
    ticket: str
    desk: Desk
    service: ServiceCode
    at: AwareTime
    recall: bool = False
    carried_from: str | None = Field(None, description="the ticket's own day when it was kept from an earlier "
                                     "day's closing (its printed number is of that day)")


class CallsState(Model):
    v: Literal[1] = 1
    calls: list[Call] = Field(description="newest first")
    ts: AwareTime | None = None


class HoursState(Model):
    """Retained ``state/hours`` from ticketing: is the centre open, on a break or closed, and when
    it opens again. The hall display and kiosks show ``message_vi`` / ``message_en`` and clear the
    "now serving" panel while ``status`` is not ``open``."""

    v: Literal[1] = 1
    status: Literal["open", "break", "closed"]
    since: AwareTime | None = Field(default=None, description="when this status began (local time, offset)")
    until: AwareTime | None = Field(default=None, description="open: when it closes or breaks next; "
                                    "break/closed: when it opens again (None: no opening known)")
    message_vi: str = ""
    message_en: str = ""
    ts: AwareTime | None = None


class BusyHour(Model):
    """One weekday and hour of :class:`BusyHoursState`: the mean over the weeks it covers."""

    weekday: int = Field(ge=0, le=6, description="0 Monday .. 6 Sunday (local time)")
    hour: int = Field(ge=0, le=23, description="local hour: arrivals from HH:00 to HH:59")
    arrivals: float = Field(ge=0, description="tickets issued in that hour, mean per open day of that weekday")
    wait_min: float | None = Field(default=None, ge=0, description="mean wait (issue to first call) of those "
                                   "tickets, minutes; None when none was called")


class BusyHoursState(Model):
    """Retained ``state/busy-hours`` from the collector (collector/busy_hours.py): when the centre is
    busy, by weekday and hour over the last ``weeks`` weeks of ticket history, so the citizen portal
    can draw it without reading the collector's database. Only hours with arrivals are listed."""

    v: Literal[1] = 1
    weeks: int = Field(ge=1, le=52)
    first_day: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="first local day counted")
    last_day: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="last local day counted (yesterday)")
    days: list[int] = Field(default_factory=lambda: [0] * 7, min_length=7, max_length=7,
                            description="open days counted per weekday (days with any ticket), Monday first")
    hours: list[BusyHour] = Field(default_factory=list, max_length=7 * 24)
    ts: AwareTime


class PresenceState(Model):
    v: Literal[1] = 1
    desk: Desk
    officer: bool | None = None
    officer_since: AwareTime | None = None
    citizen: bool | None = None
    citizen_since: AwareTime | None = None
    unknown: list[Literal["officer", "citizen"]] = Field(default_factory=list, description="zones whose state is unknown (their field is null)")
    ts: AwareTime | None = None


# -- parsing: mqtt/parsing.py (kept importable from here, where every caller looks for it) ---------

from .parsing import load_json as load_json, parse_event as parse_event, parse_model as parse_model  # noqa: E402
