"""What the hall shows, from retained state alone: no Kivy here.

:class:`HallModel` consumes the retained ``state/site`` (service names), ``state/service/{CODE}``
(waiting per service) and ``state/calls`` (newest first) messages and keeps a :class:`HallView`
snapshot that the window draws. It also decides which calls are NEW and must be announced:

- a call is identified by (ticket, desk, at): a recall is a new entry with a newer ``at``;
- state that was already retained when we subscribed (start-up, reconnect) shows at once, but only
  calls younger than ``announce_max_age_s`` (30 s by default) are announced, so a restarted display
  never re-announces the morning;
- live updates announce every unseen call newer than the newest call seen so far, whatever the
  local clock says (a Pi without NTP may be far off);
- at most ``max_burst`` calls are announced per update, oldest first.

Thread-safe: :meth:`apply` runs on the MQTT thread, :meth:`view` anywhere.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import NamedTuple

from common.clock import Clock, SystemClock, local_day
from mqtt import topics
from mqtt.errors import BadId, BadTopic, ProtocolError
from mqtt.schemas import Call, CallsState, HoursState, NumberingState, ServiceState, SiteState, parse_model

log = logging.getLogger(__name__)


class CallView(NamedTuple):
    """One call as the hall sees it."""

    ticket: str
    desk: int
    service: str
    service_vi: str
    service_en: str
    at: datetime
    recall: bool = False
    carried_from: str | None = None  # a ticket kept from an earlier day's closing: its own day

    @property
    def shown(self) -> str:
        """The number as the board shows it: a kept ticket with its own day, '1023 (23/11)'
        (the voice says the number only)."""
        d = self.carried_from
        return f"{self.ticket} ({d[8:10]}/{d[5:7]})" if d else self.ticket


class ServiceWaiting(NamedTuple):
    """Waiting count of one service today."""

    code: str
    name_vi: str
    name_en: str
    waiting: int
    est_wait_min: int | None
    finished_for_today: bool


class HallView(NamedTuple):
    """An immutable snapshot of everything on the screen (except the clock)."""

    site_vi: str
    site_en: str
    current: CallView | None
    recent: tuple[CallView, ...]
    waiting: tuple[ServiceWaiting, ...]
    version: int
    out_of_order: bool = False  # some kiosk issues from its leases: numbers may come out of order
    hours_status: str = "open"  # from state/hours: open | break | closed
    hours_vi: str = ""  # the break / closed message while hours_status != "open"
    hours_en: str = ""


OUT_OF_ORDER_VI = "Máy lấy số đang cấp số dự phòng: số có thể được gọi không theo thứ tự"
OUT_OF_ORDER_EN = "A kiosk is issuing backup numbers: numbers may be called out of order"


class HallModel:
    """The hall's state, fed message by message.

    >>> m = HallModel(recent=6)
    >>> new = m.apply(topic, payload, retained=True)   # -> calls to announce
    >>> m.view().current.ticket
    '1023'
    """

    def __init__(self, *, recent: int = 6, announce_max_age_s: float = 30.0, max_burst: int = 3,
                 clock: Clock | None = None):
        self.recent = recent
        self.announce_max_age_s = announce_max_age_s
        self.max_burst = max_burst
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._site: SiteState | None = None
        self._services: dict[str, ServiceState] = {}
        self._calls: list[Call] = []
        self._offline_kiosks: set[str] = set()  # kiosks whose retained numbering state says offline
        self._hours: HoursState | None = None
        self._held_est: dict[str, int | None] = {}  # est. waits shown when the break began, held
        self._seen: set[tuple[str, int, datetime]] = set()
        self._newest_seen: datetime | None = None
        self._version = 0
        self.rejected = 0

    # -- input ------------------------------------------------------------------------------------

    def apply(self, topic: str, payload: bytes | str, retained: bool = False) -> list[CallView]:
        """Take one state message; return the calls to announce (oldest first), maybe none.

        ``retained`` is the MQTT retain flag: true for state that was already there when we
        subscribed. A bad topic or payload is logged and counted, never raised.
        """
        try:
            t = topics.parse(topic)
        except (BadTopic, BadId) as exc:
            log.warning("ignoring message on %r: %s", topic, exc)
            self.rejected += 1
            return []
        if t.kind == "devstate" and t.name == "numbering":
            return self._numbering(t.device or "", topic, payload)
        if t.kind != "state":
            return []
        try:
            if t.name == "site":
                site = parse_model(SiteState, payload)
                with self._lock:
                    self._site = site
                    self._version += 1
                return []
            if t.name == "service":
                if not payload:  # a cleared retained message
                    with self._lock:  # topic keys are lower-case; codes may not be
                        for code in [c for c in self._services if c.lower() == (t.key or "").lower()]:
                            del self._services[code]
                        self._version += 1
                    return []
                svc = parse_model(ServiceState, payload)
                with self._lock:
                    self._services[svc.service] = svc
                    self._version += 1
                return []
            if t.name == "hours":
                self._take_hours(parse_model(HoursState, payload) if payload else None)
                return []
            if t.name == "calls":
                calls = parse_model(CallsState, payload) if payload else CallsState(calls=[])
                return self._take_calls(calls.calls, retained)
        except ProtocolError as exc:
            log.warning("ignoring %s state on %r: %s", t.name, topic, exc)
            self.rejected += 1
        return []

    def _numbering(self, device: str, topic: str, payload: bytes | str) -> list[CallView]:
        try:
            offline = bool(payload) and parse_model(NumberingState, payload).offline
        except ProtocolError as exc:
            log.warning("ignoring numbering state on %r: %s", topic, exc)
            self.rejected += 1
            return []
        with self._lock:
            (self._offline_kiosks.add if offline else self._offline_kiosks.discard)(device)
            self._version += 1
        return []

    @property
    def closed(self) -> bool:
        """On a break or closed (state/hours): nothing is shown as being served or announced."""
        return self._hours is not None and self._hours.status != "open"

    def _take_hours(self, hours: HoursState | None) -> None:
        with self._lock:
            was_closed = self.closed
            self._hours = hours
            if self.closed and not was_closed:  # hold the waits as they were when the break began
                self._held_est = {w.code: w.est_wait_min for w in self._waiting()}
            elif not self.closed:
                self._held_est = {}
            self._version += 1
        log.info("hours: %s", hours.status if hours else "unknown")

    def _take_calls(self, calls: list[Call], retained: bool) -> list[CallView]:
        now = self.clock.now()
        fresh: list[Call] = []
        with self._lock:
            newest_before = self._newest_seen
            for c in sorted(calls, key=lambda c: c.at):  # oldest first
                key = (c.ticket, c.desk, c.at)
                if key in self._seen:
                    continue
                self._seen.add(key)
                if retained:
                    age = (now - c.at).total_seconds()
                    if abs(age) <= self.announce_max_age_s:
                        fresh.append(c)
                elif newest_before is None or c.at >= newest_before:
                    fresh.append(c)
            if calls:
                top = max(c.at for c in calls)
                self._newest_seen = top if newest_before is None else max(top, newest_before)
            self._calls = sorted(calls, key=lambda c: c.at, reverse=True)
            if len(self._seen) > 500:  # keep only what the retained list still holds
                self._seen = {(c.ticket, c.desk, c.at) for c in calls}
            self._version += 1
            if self.closed:  # a call during a break or after closing is not announced
                fresh = []
            views = [self._call_view(c) for c in fresh[-self.max_burst:]]
        if len(fresh) > self.max_burst:
            log.info("%d new calls at once; announcing the newest %d", len(fresh), self.max_burst)
        return views

    # -- output -----------------------------------------------------------------------------------

    def _names(self, code: str) -> tuple[str, str]:
        if self._site is not None:
            for s in self._site.services:
                if s.code == code:
                    return s.name_vi, s.name_en
        return code, code

    def _call_view(self, c: Call) -> CallView:
        vi, en = self._names(c.service)
        return CallView(c.ticket, c.desk, c.service, vi, en, c.at, c.recall, c.carried_from)

    def view(self) -> HallView:
        """A snapshot of what the hall shows now."""
        with self._lock:
            site_vi = self._site.name_vi if self._site else ""
            site_en = self._site.name_en if self._site else ""
            calls = [] if self.closed else [self._call_view(c) for c in self._calls]
            current = calls[0] if calls else None
            recent = tuple(calls[1:1 + self.recent])
            h = self._hours
            return HallView(site_vi, site_en, current, recent, self._waiting(), self._version,
                            bool(self._offline_kiosks), h.status if h else "open",
                            h.message_vi if self.closed and h else "", h.message_en if self.closed and h else "")

    def _waiting(self) -> tuple[ServiceWaiting, ...]:
        today = local_day(self.clock.now(), self.clock.tz).isoformat()
        order = [s.code for s in self._site.services] if self._site else []
        codes = order + sorted(c for c in self._services if c not in order)
        out = []
        for code in codes:
            st = self._services.get(code)
            vi, en = self._names(code)
            if st is None or st.day != today:  # no state yet, or yesterday's: nobody waits
                out.append(ServiceWaiting(code, vi, en, 0, None, False))
                continue
            est = None if st.est_wait_s is None else max(0, round(st.est_wait_s / 60))
            if self.closed and code in self._held_est:  # the break does not make anyone's wait grow
                est = self._held_est[code]
            out.append(ServiceWaiting(code, vi, en, st.waiting, est, st.finished_for_today))
        return tuple(out)
