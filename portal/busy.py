"""The site page's "busy hours" chart, from the collector's retained ``state/busy-hours``
(mqtt.schemas.BusyHoursState): one small server-rendered SVG per weekday (no script, no inline
style: the bars' sizes are SVG attributes, their colours classes of portal.css), and the same
figures for ``/site.json``.

>>> chart(busy_state, site_state, "mon")   # -> Chart (days Monday first, today's first in .order)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mqtt.schemas import BusyHoursState, SiteState

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BAR_W, BAR_GAP, PLOT_H, LABEL_H, TOP = 26, 4, 64, 16, 14
LEVELS = 4  # bar colour classes lv1..lv4 (quiet .. busiest of the week)
MAX_AXIS = 14  # hours on one axis at most from the opening hours (readable at 360 px)


@dataclass(frozen=True)
class Bar:
    hour: int
    arrivals: float
    wait_min: float | None
    level: int  # 0 none, 1..LEVELS
    x: int
    y: int
    h: int
    w: int = BAR_W


@dataclass(frozen=True)
class Day:
    weekday: str  # mon..sun
    bars: list[Bar]
    width: int
    height: int
    busiest: Bar | None
    quietest: Bar | None


@dataclass
class Chart:
    weeks: int
    first_day: str
    last_day: str
    days: list[Day] = field(default_factory=list)
    today: str = ""

    def feed(self) -> dict[str, Any]:
        """For ``/site.json``: per weekday the hours with arrivals (mean per open day) and waits."""
        return {"weeks": self.weeks, "first_day": self.first_day, "last_day": self.last_day,
                "days": [{"weekday": d.weekday, "hours": [{"hour": b.hour, "arrivals": b.arrivals,
                                                           "wait_min": b.wait_min} for b in d.bars]}
                         for d in self.days]}

    @property
    def order(self) -> list[Day]:
        """Today's weekday first, then the following days."""
        i = next((n for n, d in enumerate(self.days) if d.weekday == self.today), 0)
        return self.days[i:] + self.days[:i]


def _open_hours(site: SiteState | None, weekday: str) -> set[int]:
    hours: set[int] = set()
    for start, end in (site.hours.get(weekday, []) if site else []):
        h0, h1 = int(start[:2]), int(end[:2]) + (1 if end[3:] != "00" else 0)
        hours.update(range(h0, min(h1, 24)))
    return hours


def chart(busy: BusyHoursState | None, site: SiteState | None, today: str = "") -> Chart | None:
    """The chart of the days the centre opens (or had arrivals); None without any history yet."""
    if busy is None or not busy.hours:
        return None
    by_day: dict[int, dict[int, tuple[float, float | None]]] = {}
    for c in busy.hours:
        by_day.setdefault(c.weekday, {})[c.hour] = (c.arrivals, c.wait_min)
    top = max(c.arrivals for c in busy.hours) or 1.0
    out = Chart(busy.weeks, busy.first_day, busy.last_day, today=today)
    for wd, name in enumerate(WEEKDAYS):
        cells = by_day.get(wd, {})
        opening = _open_hours(site, name)
        if opening and max(opening) - min(opening) >= MAX_AXIS:
            opening = set()  # open (nearly) round the clock: the hours with arrivals make the axis
        hours = sorted(opening | set(cells))
        if not hours:
            continue
        hours = list(range(hours[0], hours[-1] + 1))  # one continuous axis, the lunch break included
        bars = []
        for i, h in enumerate(hours):
            n, wait = cells.get(h, (0.0, None))
            bh = round(PLOT_H * n / top)
            level = 0 if n <= 0 else min(LEVELS, 1 + int(LEVELS * n / top - 1e-9))
            bars.append(Bar(h, n, wait, level, i * (BAR_W + BAR_GAP), TOP + PLOT_H - bh, bh))
        counted = [b for b in bars if b.arrivals > 0]
        quiet = [b for b in bars if b.hour in opening] or counted  # an open hour nobody came is the quietest
        out.days.append(Day(name, bars, len(bars) * (BAR_W + BAR_GAP) - BAR_GAP, TOP + PLOT_H + LABEL_H,
                            max(counted, key=lambda b: b.arrivals) if counted else None,
                            min(quiet, key=lambda b: b.arrivals) if counted else None))
    return out
