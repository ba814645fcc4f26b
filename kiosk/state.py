"""What the kiosk knows of the site, from retained ``state/site`` and ``state/service/{CODE}``:
open or closed now, per service waiting and estimated wait, finished for today, offline."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, time
from typing import Callable
from zoneinfo import ZoneInfo

from common.clock import Clock, SystemClock
from mqtt import topics
from mqtt.client import DeviceClient, Message
from mqtt.errors import ProtocolError
from mqtt.schemas import HoursState, ServiceInfo, ServiceState, SiteState, parse_model

from .store import KioskStore

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ServiceView:
    """One service button on the home screen."""

    code: str
    name_vi: str
    name_en: str
    waiting: int
    est_wait_s: float | None
    finished: bool


def _hm(value: str) -> time:
    h, m = value.split(":")
    return time(int(h), int(m))


class KioskState:
    """Retained site state as the kiosk sees it. Updated from the MQTT thread, read by the UI.

    The last ``SiteState`` and ``ServiceState`` per service are kept in the store, so a kiosk
    that reboots while the site server is down still shows its services and issues from its lease.
    """

    def __init__(self, site: str, clock: Clock | None = None, store: KioskStore | None = None,
                 online: Callable[[], bool] | None = None):
        self.site_id = site
        self.clock = clock or SystemClock()
        self.store = store
        self._online = online or (lambda: False)
        self._lock = threading.Lock()
        self.site: SiteState | None = None
        self.services: dict[str, ServiceState] = {}
        self.hours: HoursState | None = None  # retained state/hours; None: judge from site hours
        self._local_since: dict[str, dict[str, int]] = {}  # issued here since the last ServiceState,
        # per service and priority class ('' = regular)
        self.listeners: list[Callable[[], None]] = []
        if store is not None:
            cached = store.get("site_state")
            if cached:
                self.site = SiteState.model_validate(cached)
            for code, raw in (store.get("service_states") or {}).items():
                self.services[code] = ServiceState.model_validate(raw)

    # -- updates -----------------------------------------------------------------------------------

    def attach(self, client: DeviceClient) -> None:
        client.subscribe(topics.state(self.site_id, "site"), self.on_message)
        client.subscribe(topics.state_filter(self.site_id, "service"), self.on_message)
        client.subscribe(topics.state(self.site_id, "hours"), self.on_message)

    def on_message(self, msg: Message) -> None:
        try:
            t = topics.parse(msg.topic)
            if t.name == "site" and t.key is None:
                self.set_site(parse_model(SiteState, msg.payload))
            elif t.name == "service" and t.key:
                if not msg.payload:
                    return
                self.set_service(parse_model(ServiceState, msg.payload))
            elif t.name == "hours":
                self.set_hours(parse_model(HoursState, msg.payload) if msg.payload else None)
        except ProtocolError as exc:
            log.error("bad retained state on %s: %s", msg.topic, exc)

    def set_site(self, site: SiteState) -> None:
        with self._lock:
            self.site = site
        if self.store is not None:
            self.store.put("site_state", site.model_dump(mode="json"))
        self._notify()

    def set_service(self, state: ServiceState) -> None:
        with self._lock:
            self.services[state.service] = state
            self._local_since[state.service] = {}
            cache = {k: v.model_dump(mode="json") for k, v in self.services.items()}
        if self.store is not None:
            self.store.put("service_states", cache)
        self._notify()

    def set_hours(self, hours: HoursState | None) -> None:
        with self._lock:
            self.hours = hours
        self._notify()

    def note_issued(self, service: str, priority: str | None = None) -> None:
        with self._lock:
            per = self._local_since.setdefault(service, {})
            per[priority or ""] = per.get(priority or "", 0) + 1

    def _notify(self) -> None:
        for fn in list(self.listeners):
            try:
                fn()
            except Exception:  # noqa: BLE001
                log.exception("state listener failed")

    # -- queries -----------------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self._online()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone) if self.site else self.clock.tz

    def now(self) -> datetime:
        return self.clock.now().astimezone(self.tz)

    def hours_status(self) -> str:
        """open | break | closed from ticketing's state/hours; without it, from the site's hours."""
        h = self.hours
        if h is not None:
            return h.status
        return "open" if self.is_open() else "closed"

    def reopens_at(self) -> datetime | None:
        """When a break or closing ends (local time), if ticketing knows."""
        h = self.hours
        return h.until.astimezone(self.tz) if h is not None and h.status != "open" and h.until else None

    def is_open(self, when: datetime | None = None) -> bool:
        """Inside opening hours and not a closed day (local time of the site). A lunch break
        (state/hours ``break``) is not closed: the kiosk keeps issuing."""
        if self.site is None:
            return False
        h = self.hours
        if h is not None and when is None:
            return h.status != "closed"
        local = (when or self.clock.now()).astimezone(self.tz)
        if local.date().isoformat() in self.site.closed_days:
            return False
        spans = self.site.hours.get(WEEKDAYS[local.weekday()], [])
        now = local.time().replace(tzinfo=None)
        return any(_hm(a) <= now < _hm(b) for a, b in spans)

    def hours_today(self) -> str:
        if self.site is None:
            return ""
        local = self.now()
        if local.date().isoformat() in self.site.closed_days:
            return ""
        return ", ".join(f"{a}–{b}" for a, b in self.site.hours.get(WEEKDAYS[local.weekday()], []))

    def service_info(self, code: str) -> ServiceInfo | None:
        if self.site is None:
            return None
        return next((s for s in self.site.services if s.code == code), None)

    def _current(self, code: str) -> ServiceState | None:
        st = self.services.get(code)
        if st is None or st.day != self.now().date().isoformat():
            return None  # yesterday's state: nobody waits today yet
        return st

    def _rank(self, priority: str | None) -> int:
        """Ticketing's calling order: the site's priority classes in order, then regular."""
        if not priority:
            return 1 << 30
        classes = self.site.priority_classes if self.site else []
        return classes.index(priority) if priority in classes else len(classes)

    def people_ahead(self, code: str, priority: str | None = None) -> int:
        """Waiting now who are called before a new ticket of ``priority`` (None = regular): every
        class ranked at or before it. Without per-class counts (an older ticketing), everyone."""
        st = self._current(code)
        with self._lock:
            local = dict(self._local_since.get(code, {}))
        by_class: dict[str, int] = dict(st.waiting_by_priority) if st and st.waiting_by_priority else {}
        if st is not None and sum(by_class.values()) != st.waiting:
            by_class = {"": st.waiting}  # no usable split: count everyone as ahead
            if priority:
                return st.waiting + sum(local.values())
        for k, n in local.items():
            by_class[k] = by_class.get(k, 0) + n
        mine = self._rank(priority)
        return sum(n for k, n in by_class.items() if self._rank(k or None) <= mine)

    def est_wait_s(self, code: str, ahead: int | None = None) -> float | None:
        """Estimated wait for a ticket with ``ahead`` people before it: 0 only when nobody is."""
        n = self.people_ahead(code) if ahead is None else ahead
        if n == 0:
            return 0.0
        st = self._current(code)
        if st is None or not st.est_wait_s or st.waiting == 0:
            return None  # nobody to learn a pace from: unknown, never "no wait"
        return st.est_wait_s / st.waiting * n

    def finished(self, code: str) -> bool:
        st = self._current(code)
        return bool(st and st.finished_for_today)

    def service_views(self) -> list[ServiceView]:
        if self.site is None:
            return []
        return [ServiceView(s.code, s.name_vi, s.name_en, self.people_ahead(s.code), self.est_wait_s(s.code),
                            self.finished(s.code)) for s in self.site.services]
