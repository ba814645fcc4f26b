"""Report periods: a local day, month, quarter, year, or a custom from/to range of local days."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import CollectorError

PeriodKind = Literal["day", "month", "quarter", "year", "range"]
PERIOD_KINDS: tuple[str, ...] = ("day", "month", "quarter", "year")
DEFAULT_TZ = "Asia/Ho_Chi_Minh"
MAX_RANGE_DAYS = 3 * 366


class BadReportQuery(CollectorError, ValueError):
    """A report parameter that makes no sense (the message says what would)."""


# -- periods -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """A local calendar period: ``Period("month", date(2026, 11, 5))`` is November 2026;
    ``Period.between(date(2026, 11, 3), date(2026, 11, 17))`` is a custom range (both days included)."""

    kind: PeriodKind
    anchor: date
    last: date | None = None  # the last day of a custom range (kind "range")

    @classmethod
    def parse(cls, kind: str | None, day: str | None, today: date) -> "Period":
        kind = kind or "day"
        if kind not in PERIOD_KINDS:
            raise BadReportQuery(f"Kỳ báo cáo không hợp lệ / period={kind!r} is not known: dùng / use one of "
                                 f"{', '.join(PERIOD_KINDS)}")
        if not day:
            return cls(kind, today)  # type: ignore[arg-type]
        return cls(kind, _parse_day(day, "date"))  # type: ignore[arg-type]

    @classmethod
    def between(cls, first: date | str, last: date | str) -> "Period":
        """A custom from/to range of local days, both included (at most about three years)."""
        a = _parse_day(first, "from") if isinstance(first, str) else first
        b = _parse_day(last, "to") if isinstance(last, str) else last
        if b < a:
            raise BadReportQuery(f"Khoảng ngày ngược / to={b.isoformat()} is before from={a.isoformat()}")
        if (b - a).days >= MAX_RANGE_DAYS:
            raise BadReportQuery(f"Khoảng ngày quá dài / the range {a.isoformat()}..{b.isoformat()} is longer than "
                                 f"{MAX_RANGE_DAYS} days: chọn ngắn hơn / choose a shorter one")
        return cls("range", a, b)

    @property
    def first_day(self) -> date:
        a = self.anchor
        if self.kind in ("day", "range"):
            return a
        if self.kind == "month":
            return a.replace(day=1)
        if self.kind == "quarter":
            return date(a.year, 3 * ((a.month - 1) // 3) + 1, 1)
        return date(a.year, 1, 1)

    @property
    def end_day(self) -> date:
        """The first local day after the period."""
        f = self.first_day
        if self.kind == "day":
            return f + timedelta(days=1)
        if self.kind == "range":
            return (self.last or f) + timedelta(days=1)
        return _add_months(f, {"month": 1, "quarter": 3, "year": 12}[self.kind])

    def previous(self) -> "Period":
        """The period just before (a custom range: the same number of days before it)."""
        if self.kind == "day":
            return Period("day", self.anchor - timedelta(days=1))
        if self.kind == "range":
            n = (self.end_day - self.first_day).days
            return Period("range", self.first_day - timedelta(days=n), self.first_day - timedelta(days=1))
        return Period(self.kind, _add_months(self.first_day, -{"month": 1, "quarter": 3, "year": 12}[self.kind]))

    def last_year(self) -> "Period":
        """The same period a year earlier (29 February becomes the 28th)."""
        def back(d: date) -> date:
            return d.replace(year=d.year - 1) if not (d.month == 2 and d.day == 29) else date(d.year - 1, 2, 28)
        if self.kind == "range":
            return Period("range", back(self.first_day), back(self.end_day - timedelta(days=1)))
        return Period(self.kind, back(self.first_day))

    def days(self) -> list[date]:
        d, out = self.first_day, []
        while d < self.end_day:
            out.append(d)
            d += timedelta(days=1)
        return out

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """Local midnight to local midnight, as aware datetimes in ``tz``."""
        return datetime.combine(self.first_day, dtime(0), tz), datetime.combine(self.end_day, dtime(0), tz)

    def epochs(self, tz: ZoneInfo) -> tuple[float, float]:
        s, e = self.bounds(tz)
        return s.timestamp(), e.timestamp()

    @property
    def label(self) -> str:
        f = self.first_day
        if self.kind == "day":
            return f.isoformat()
        if self.kind == "month":
            return f"{f.year}-{f.month:02d}"
        if self.kind == "quarter":
            return f"{f.year}-Q{(f.month - 1) // 3 + 1}"
        if self.kind == "range":
            return f"{f.isoformat()}..{(self.end_day - timedelta(days=1)).isoformat()}"
        return str(f.year)


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def _parse_day(day: str, name: str) -> date:
    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise BadReportQuery(f"Ngày không hợp lệ / {name}={day!r} is not a date: dùng / use YYYY-MM-DD, "
                             "e.g. 2026-11-23") from None
    if not 1970 <= d.year <= 9998:
        raise BadReportQuery(f"Ngày ngoài phạm vi / {name}={day!r} is out of range: dùng năm / use a year "
                             "from 1970 to 9998")
    return d


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadReportQuery(f"Múi giờ không rõ / timezone {tz!r} is not known, e.g. Asia/Ho_Chi_Minh") from None
