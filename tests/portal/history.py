"""Made-up history for the collector's store (written by the real Store): ticket events of past
weeks for the busy hours, ratings of both channels."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from collector.store import Incoming, Store
from tests.collector.wire import SITE, event

VN = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = date(2026, 12, 7)  # a Monday


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=VN)


def incoming(msg: tuple[str, bytes]) -> Incoming:
    return Incoming(msg[0], msg[1], False, datetime.now(VN))


def ticket(action: str, label: str, when: datetime, device: str, site: str = SITE, **extra: Any) -> Incoming:
    data = {"action": action, "ticket": label, "number": int(label), "day": when.date().isoformat(),
            "service": "HT", **extra}
    return incoming(event("ticket", data, device=device, site=site, ts=when.isoformat(timespec="milliseconds")))


def rating(device: str, label: str, when: datetime, channel: str, misuse: bool = False) -> Incoming:
    data = {"desk": 3, "score": 4, "scale": 5, "ticket": label, "service": "HT", "officer": "nv-0003",
            "misuse": misuse, "misuse_reason": "too_soon" if misuse else None, "channel": channel}
    return incoming(event("rating", data, device=device, ts=when.isoformat(timespec="milliseconds")))


def seed_history(s: Store, today: date = TODAY, site: str = SITE) -> None:
    """Two past Mondays: 08:00-08:59 three tickets (waits 10, 20, 30 min), 14:xx one (never called);
    last Tuesday 09:xx two tickets; plus a ticket today and one nine weeks ago (both outside)."""
    batch: list[Incoming] = []
    n = 1000
    for weeks_ago in (1, 2):
        mon = today - timedelta(days=7 * weeks_ago)
        for i, wait in enumerate((10, 20, 30)):
            n += 1
            issued = at(mon, 8, 5 + i * 10)
            batch += [ticket("issued", str(n), issued, "kiosk-1", site),
                      ticket("called", str(n), issued + timedelta(minutes=wait), "ticketing", site, desk=1),
                      ticket("recalled", str(n), issued + timedelta(minutes=wait + 1), "ticketing", site, desk=1)]
        n += 1
        batch.append(ticket("issued", str(n), at(mon, 14, 30), "kiosk-1", site))
    tue = today - timedelta(days=6)
    for mm in (0, 40):
        n += 1
        batch.append(ticket("issued", str(n), at(tue, 9, mm), "kiosk-1", site))
    batch.append(ticket("issued", "1900", at(today, 8, 0), "kiosk-1", site))
    batch.append(ticket("issued", "1901", at(today - timedelta(weeks=9), 8, 0), "kiosk-1", site))
    s.write_batch(batch)
