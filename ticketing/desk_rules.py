"""Desk rules beyond the plain queue: recall cooldown and cap, no-show only after enough calls,
and who may act at a desk besides its own terminal (the officer web console).

The officer web console runs in the collector's web server. It asks ticketing over MQTT as ONE
device registered with role ``console`` (``devices.toml``: ``[console-1] role = "console"``,
optional ``desks = [1, 2]`` to restrict it), naming the desk and the logged-in officer in each
request. The broker ACL binds ``dev/console-1/`` to the collector's login, so only that process
can speak as the console; the collector has authenticated the officer (password, session bound
to the desk) before it sends anything. :func:`console_at_desk` is the :data:`DeskAuthority` the
server adds to ``Authority.desk_authorities``.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime

from common.registry import DeviceEntry

from .config import SiteConfig

MESSAGES: dict[str, tuple[str, str]] = {
    "recall_too_soon": ("Vừa gọi số này, vui lòng chờ {s} giây nữa rồi gọi lại",
                        "This ticket was just called; recall again in {s} s"),
    "recall_limit": ("Đã gọi lại số này {n} lần, không gọi lại thêm",
                     "This ticket was already recalled {n} times; no more recalls"),
    "no_show_too_soon": ("Cần gọi số này {n} lần trước khi đánh dấu vắng mặt",
                         "Call this ticket {n} times before marking it a no-show"),
}


def console_at_desk(device: str, entry: DeviceEntry | None, desk: int) -> bool:
    """The officer web console (role ``console``), for any desk or only its listed ``desks``."""
    return entry is not None and entry.role == "console" and (not entry.desks or desk in entry.desks)


class RuleRefused(Exception):
    """A desk rule refused the step: ``code`` with its bilingual message."""

    def __init__(self, code: str, vi: str, en: str):
        super().__init__(en)
        self.code, self.vi, self.en = code, vi, en


def _refuse(code: str, **fmt: object) -> RuleRefused:
    vi, en = MESSAGES[code]
    return RuleRefused(code, vi.format(**fmt), en.format(**fmt))


def last_call_ts(db: sqlite3.Connection, ticket_id: int) -> float | None:
    """When the ticket was last called or recalled (its own calls: a ticket kept from an earlier day
    may share its label with one of today's)."""
    row = db.execute("SELECT at FROM calls WHERE ticket_id=? ORDER BY id DESC LIMIT 1", (ticket_id,)).fetchone()
    return datetime.fromisoformat(row[0]).timestamp() if row else None


def check_recall(site: SiteConfig, db: sqlite3.Connection, t: sqlite3.Row, now: datetime) -> None:
    """Raise :class:`RuleRefused` when the serving ticket ``t`` may not be recalled now."""
    recalls = int(t["calls"]) - 1
    if recalls >= site.recall_max:
        raise _refuse("recall_limit", n=recalls)
    last = last_call_ts(db, t["id"])
    if last is not None:
        left = site.recall_cooldown_s - (now.timestamp() - last)
        if left > 0:
            raise _refuse("recall_too_soon", s=max(1, round(left)))


def check_no_show(site: SiteConfig, t: sqlite3.Row) -> None:
    if int(t["calls"]) < site.no_show_after_calls:
        raise _refuse("no_show_too_soon", n=site.no_show_after_calls)
