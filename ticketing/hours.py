"""Opening hours on the wire: ticketing publishes retained ``state/hours`` (open / break /
closed, until when, a bilingual sentence) from the site's ``hours`` and ``closed_days``, and at
the day's last closing applies ``closing_policy`` to the tickets left.

A break is the gap between two spans of the same day (``mon = [["07:30", "11:30"], ["13:30",
"17:00"]]``: 11:30-13:30 is the lunch break). Before the first span and after the last it is
closed. A site without ``hours`` is always open.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any, Callable
from zoneinfo import ZoneInfo

from mqtt import topics
from mqtt.schemas import HoursState

from .config import WEEKDAYS, SiteConfig

log = logging.getLogger(__name__)

WEEKDAY_VI = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
WEEKDAY_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LOOKAHEAD_DAYS = 14


def _spans(site: SiteConfig, day: date, tz: object) -> list[tuple[datetime, datetime]]:
    if day.isoformat() in site.closed_days:
        return []
    out = []
    for start, end in site.hours.get(WEEKDAYS[day.weekday()], []):
        a = datetime.combine(day, time.fromisoformat(start), tzinfo=tz)  # type: ignore[arg-type]
        b = datetime.combine(day, time.fromisoformat(end), tzinfo=tz)  # type: ignore[arg-type]
        out.append((a, b))
    return sorted(out)


def _next_open(site: SiteConfig, now: datetime) -> datetime | None:
    for i in range(LOOKAHEAD_DAYS + 1):
        for a, _b in _spans(site, now.date() + timedelta(days=i), now.tzinfo):
            if a > now:
                return a
    return None


def hours_state(site: SiteConfig, now: datetime) -> HoursState:
    """What the centre is at ``now`` (any aware time; judged in the site's zone)."""
    now = now.astimezone(ZoneInfo(site.timezone))
    if not site.hours:
        return HoursState(status="open", ts=now)
    today = _spans(site, now.date(), now.tzinfo)
    for a, b in today:
        if a <= now < b:
            return HoursState(status="open", since=a, until=b, ts=now)
    reopen = _next_open(site, now)
    earlier = [b for _a, b in today if b <= now]
    on_break = bool(earlier) and reopen is not None and reopen.date() == now.date()
    since = max(earlier) if earlier else None
    at = reopen.strftime("%H:%M") if reopen else ""
    if on_break:
        lunch = max(earlier).hour < 14
        vi = f"{'Nghỉ trưa' if lunch else 'Tạm nghỉ'} – làm việc lại lúc {at}"
        en = f"{'Lunch break' if lunch else 'Break'} – back at {at}"
        return HoursState(status="break", since=since, until=reopen, message_vi=vi, message_en=en, ts=now)
    if reopen is None:
        vi, en = "Đã hết giờ làm việc", "Closed"
    elif reopen.date() == now.date():
        vi, en = f"Chưa đến giờ làm việc – mở cửa lúc {at}", f"Not open yet – opens at {at}"
    else:
        wd = reopen.weekday()
        vi = f"Đã hết giờ làm việc – mở cửa lại lúc {at} {WEEKDAY_VI[wd]} {reopen:%d/%m}"
        en = f"Closed – opens again at {at} on {WEEKDAY_EN[wd]} {reopen:%d/%m}"
    return HoursState(status="closed", since=since, until=reopen, message_vi=vi, message_en=en, ts=now)


def is_day_closed(site: SiteConfig, now: datetime) -> bool:
    """Past the last closing time of today (a day with hours)."""
    now = now.astimezone(ZoneInfo(site.timezone))
    today = _spans(site, now.date(), now.tzinfo)
    return bool(today) and now >= today[-1][1]


class HoursWatcher:
    """From the server's tick: republish ``state/hours`` when it changes; at the day's last
    closing run ``close_day`` once (closing_policy 'expire' or 'keep': ticketing/closing.py)."""

    def __init__(self, site: SiteConfig, publish: Callable[[HoursState], None], close_day: Callable[[], None]):
        self.site, self._publish, self._close_day = site, publish, close_day
        self.last: HoursState | None = None
        self._closed_day: date | None = None

    def current(self, now: datetime) -> HoursState:
        return hours_state(self.site, now)

    def publish(self, now: datetime) -> None:
        self.last = self.current(now)
        self._publish(self.last)

    def tick(self, now: datetime) -> None:
        st = self.current(now)
        if self.last is None or (st.status, st.until, st.since) != (self.last.status, self.last.until, self.last.since):
            log.info("hours: %s (%s)", st.status, st.message_en or "open")
            self.last = st
            self._publish(st)
        if (self.site.closing_policy != "midnight" and is_day_closed(self.site, now)
                and self._closed_day != now.date()):
            self._closed_day = now.date()
            self._close_day()


def hours_watcher(server: Any) -> HoursWatcher:
    """The watcher of a :class:`ticketing.server.Server`: publishes on its client, closes the day
    through its queue and republishes the states that changed."""
    def publish(st: HoursState) -> None:
        server.client.publish_state(topics.state(server.site, "hours"), st)

    def close_day() -> None:
        out = server.queue.close_day()
        log.info("closing time: the tickets left are settled (closing_policy = %r)", server.queue.site.closing_policy)
        server.publish(out)
        server._wake.set()
    return HoursWatcher(server.queue.site, publish, close_day)
