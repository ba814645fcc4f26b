"""Comparisons managers ask for, as library functions over :func:`collector.reports.build_report`:

- :func:`compare`: this period against the previous one and the same period last year, per row;
- :func:`trend`: one figure over the 12 months (or N periods) ending with a period;
- :func:`ranking`: desks or officers ordered by a figure (rows without the figure last);
- :func:`tickets_behind` / :func:`ratings_behind`: the tickets or ratings behind a figure (drill-down),
  with the same filters and the same open-minutes waits as the report;
- :data:`DEAD_LETTER_REASONS`: dead-letter reasons in Vietnamese first.

Custom ranges are ``Period.between(from, to)``; filters are :class:`collector.reports.Filters`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .backend import Conn
from .periods import DEFAULT_TZ, BadReportQuery, Period, zone
from .reports import (NO_FILTERS, Filters, OpenClock, Report, ReportRow, _issued_epoch, build_report,
                      channel_of, channel_sql)
from .site_config import site_history
from .staff import Staff

FIGURES: dict[str, tuple[str, str, bool]] = {  # name -> (vi, en, higher is better)
    "served": ("Đã phục vụ", "Served", True),
    "avg_wait_s": ("Chờ trung bình", "Average wait", False),
    "max_wait_s": ("Chờ lâu nhất", "Longest wait", False),
    "avg_service_s": ("Phục vụ trung bình", "Average service time", False),
    "service_level": ("Đúng hạn", "Service level", True),
    "satisfaction_rate": ("Hài lòng", "Satisfaction", True),
    "response_rate": ("Tỷ lệ phản hồi", "Response rate", True),
    "presence_share": ("Tỷ lệ có mặt", "Presence share", True),
    "misuse_count": ("Bấm bất thường", "Misuse presses", False),
    "ratings": ("Lượt đánh giá", "Ratings", True),
    "issued": ("Số phiếu cấp", "Tickets issued", True),
    "no_shows": ("Vắng mặt", "No-shows", False),
}

DEAD_LETTER_REASONS: dict[str, tuple[str, str]] = {
    "not_json": ("Không phải JSON", "Not JSON"),
    "not_object": ("JSON không phải đối tượng", "JSON is not an object"),
    "bad_version": ("Sai phiên bản giao thức", "Unknown protocol version"),
    "missing_field": ("Thiếu trường bắt buộc", "A required field is missing"),
    "bad_data": ("Dữ liệu không hợp lệ", "Invalid data"),
    "bad_field": ("Trường không hợp lệ", "Invalid field"),
    "bad_topic": ("Chủ đề (topic) không hợp lệ", "Invalid topic"),
    "unknown_type": ("Loại sự kiện không rõ", "Unknown event type"),
    "type_mismatch": ("Loại sự kiện không khớp chủ đề", "Event type does not match the topic"),
    "device_mismatch": ("Thiết bị không khớp chủ đề", "Device does not match the topic"),
    "site_mismatch": ("Đơn vị không khớp chủ đề", "Site does not match the topic"),
    "too_large": ("Tin nhắn quá lớn", "Message too large"),
    "forbidden": ("Thiết bị không được phép gửi", "The device may not send this"),
    "internal_error": ("Lỗi nội bộ khi lưu", "Internal error while storing"),
}


def dead_letter_reason(reason: str) -> str:
    """'not_json' -> 'Không phải JSON / Not JSON (not_json)'; an unknown code is shown as it is."""
    vi, en = DEAD_LETTER_REASONS.get(reason, (reason, reason))
    return f"{vi} / {en} ({reason})" if reason in DEAD_LETTER_REASONS else reason


def _figure(name: str) -> str:
    if name not in FIGURES:
        raise BadReportQuery(f"Chỉ tiêu không rõ / figure={name!r} is not known: dùng / use one of "
                             f"{', '.join(FIGURES)}")
    return name


@dataclass
class Compared:
    key: Any
    now: ReportRow | None
    previous: ReportRow | None
    last_year: ReportRow | None

    def delta(self, figure: str, against: str = "previous") -> float | None:
        a = getattr(self.now, _figure(figure), None) if self.now else None
        other = self.previous if against == "previous" else self.last_year
        b = getattr(other, figure, None) if other else None
        return a - b if a is not None and b is not None else None


def compare(conn: Conn, period: Period, by: str = "overall", **kw: Any) -> list[Compared]:
    """Rows of ``period`` beside the previous period's and last year's (keys of any of the three; the total
    row last, keyed ``"total"``). ``kw`` goes to :func:`build_report` (levels, tz, site, now, staff, filters)."""
    reps = [build_report(conn, p, by, **kw) for p in (period, period.previous(), period.last_year())]
    keys: list[Any] = []
    for r in reps:
        keys += [row.key for row in r.rows if row.key not in keys]
    out = [Compared(k, reps[0].row(k), reps[1].row(k), reps[2].row(k)) for k in keys]
    return out + [Compared("total", reps[0].total, reps[1].total, reps[2].total)]


def trend(conn: Conn, period: Period, figure: str, n: int = 12, by: str = "overall",
          key: Any = "total", **kw: Any) -> list[tuple[str, float | None]]:
    """``figure`` of row ``key`` (``"total"`` = the whole site) over the ``n`` periods ending with ``period``,
    oldest first: ``[("2025-12", 0.81), ..., ("2026-11", 0.86)]``."""
    _figure(figure)
    periods = [period]
    while len(periods) < n:
        periods.insert(0, periods[0].previous())
    out = []
    for p in periods:
        rep = build_report(conn, p, by, **kw)
        row = rep.total if key == "total" else rep.row(key)
        out.append((p.label, getattr(row, figure) if row is not None else None))
    return out


def ranking(report: Report, figure: str, best_first: bool = True) -> list[tuple[int, ReportRow]]:
    """Rows ranked by ``figure`` (1 = best; "best" follows the figure's direction); rows without it last,
    unranked (rank 0)."""
    _, _, higher = FIGURES[_figure(figure)]
    have = [r for r in report.rows if getattr(r, figure) is not None and r.key is not None]
    have.sort(key=lambda r: getattr(r, figure), reverse=higher == best_first)
    out = [(i + 1, r) for i, r in enumerate(have)]
    return out + [(0, r) for r in report.rows if r not in have]


def tickets_behind(conn: Conn, period: Period, filters: Filters = NO_FILTERS, *,
                   actions: tuple[str, ...] = ("finished", "no_show"), tz: str = DEFAULT_TZ, site: str | None = None,
                   staff: Staff | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """The ticket events behind served / no-show / wait / service figures, oldest first, with the open wait
    the report counted (``open_wait_s``) beside the wall-clock one (``wait_s``)."""
    z = zone(tz)
    start, end = period.epochs(z)
    clock = OpenClock(site_history(conn, site), z)
    staff = staff or Staff()
    w, a = (" AND site=?", [site]) if site else ("", [])
    fw, fa = filters.sql()
    marks = ",".join("?" * len(actions))
    rows = conn.execute(f"SELECT id, site, action, ticket, day, service, priority, desk, officer, issued_at, wait_s, "
                        f"service_s, ts, ts_epoch FROM ticket_events WHERE ts_epoch >= ? AND ts_epoch < ? AND action IN "
                        f"({marks}){w}{fw} ORDER BY ts_epoch, id LIMIT ?",
                        [start, end, *actions, *a, *fa, limit]).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        if r["wait_s"] is not None:
            iss = _issued_epoch(r)
            d["open_wait_s"] = clock.open_wait(iss, iss + float(r["wait_s"]))
        else:
            d["open_wait_s"] = None
        d["officer_name"] = staff.name(r["officer"])
        d["local_time"] = datetime.fromtimestamp(r["ts_epoch"], z).strftime("%H:%M %d/%m/%Y")
        out.append(d)
    return out


def ratings_behind(conn: Conn, period: Period, filters: Filters = NO_FILTERS, *,
                   tz: str = DEFAULT_TZ, site: str | None = None, staff: Staff | None = None,
                   limit: int = 1000) -> list[dict[str, Any]]:
    """The ratings behind the satisfaction / levels / misuse figures, oldest first (misuse included, flagged)."""
    z = zone(tz)
    start, end = period.epochs(z)
    staff = staff or Staff()
    w, a = (" AND site=?", [site]) if site else ("", [])
    fw, fa = filters.sql("ratings")
    rows = conn.execute(f"SELECT id, site, device, desk, score, scale, ticket, service, officer, misuse, misuse_reason, "
                        f"day, ts, ts_epoch, {channel_sql(conn)} FROM ratings WHERE ts_epoch >= ? AND ts_epoch < ?{w}{fw} "
                        "ORDER BY ts_epoch, id LIMIT ?", [start, end, *a, *fa, limit]).fetchall()
    return [dict(r) | {"misuse": bool(r["misuse"]), "channel": channel_of(r["device"], r["channel"]),
                       "officer_name": staff.name(r["officer"]),
                       "local_time": datetime.fromtimestamp(r["ts_epoch"], z).strftime("%H:%M %d/%m/%Y")}
            for r in rows]
