"""The site page's busy-hours chart (portal/busy.py) from a BusyHoursState and the site's hours."""
from __future__ import annotations

from datetime import datetime

from mqtt.schemas import BusyHour, BusyHoursState
from portal.busy import BAR_GAP, BAR_W, PLOT_H, TOP, chart
from tests.kiosk.helpers import TZ, site_state


def state(*cells: tuple[int, int, float, float | None]) -> BusyHoursState:
    return BusyHoursState(weeks=8, first_day="2026-10-12", last_day="2026-12-06", days=[8, 8, 8, 8, 8, 8, 0],
                          hours=[BusyHour(weekday=w, hour=h, arrivals=a, wait_min=m) for w, h, a, m in cells],
                          ts=datetime(2026, 12, 7, 6, tzinfo=TZ))


def test_one_axis_per_open_day_with_levels_busiest_and_quietest_open_hour() -> None:
    busy = state((0, 7, 1.0, 5.0), (0, 8, 6.0, 25.0), (0, 9, 3.0, None), (0, 14, 2.0, 12.0), (0, 16, 0.5, None),
                 (5, 8, 4.0, 9.0))
    c = chart(busy, site_state(), today="sat")
    assert c is not None
    # Monday to Friday 07:30-11:30 and 13:30-17:00, Saturday mornings; Sunday closed and empty: no chart
    assert [d.weekday for d in c.days] == ["mon", "tue", "wed", "thu", "fri", "sat"]
    assert [d.weekday for d in c.order] == ["sat", "mon", "tue", "wed", "thu", "fri"]  # today first
    mon = c.days[0]
    assert [b.hour for b in mon.bars] == list(range(7, 17))  # the lunch hour stays on the axis, empty
    by_hour = {b.hour: b for b in mon.bars}
    assert {h: b.level for h, b in by_hour.items() if b.level} == {7: 1, 8: 4, 9: 2, 14: 2, 16: 1}
    assert (by_hour[8].y, by_hour[8].h) == (TOP, PLOT_H) and by_hour[9].h == PLOT_H // 2 and by_hour[12].h == 0
    assert [b.x for b in mon.bars[:3]] == [0, BAR_W + BAR_GAP, 2 * (BAR_W + BAR_GAP)]
    assert mon.width == 10 * (BAR_W + BAR_GAP) - BAR_GAP
    assert mon.busiest is not None and (mon.busiest.hour, mon.busiest.wait_min) == (8, 25.0)
    assert mon.quietest is not None and mon.quietest.hour == 10  # open, nobody came (12: lunch, closed)
    tue = c.days[1]
    assert tue.busiest is None and tue.quietest is None and all(b.level == 0 for b in tue.bars)
    feed = c.feed()
    assert feed["weeks"] == 8 and feed["days"][0]["weekday"] == "mon"
    assert feed["days"][0]["hours"][1] == {"hour": 8, "arrivals": 6.0, "wait_min": 25.0}


def test_no_chart_without_history_and_no_opening_hours_axis_when_open_round_the_clock() -> None:
    assert chart(None, site_state()) is None
    assert chart(state(), site_state()) is None
    round_the_clock = site_state().model_copy(update={"hours": {"mon": [("00:00", "23:59")]}})
    c = chart(state((0, 9, 2.0, None), (0, 11, 1.0, None)), round_the_clock, today="mon")
    assert c is not None and [b.hour for b in c.days[0].bars] == [9, 10, 11]
    assert c.days[0].quietest is not None and c.days[0].quietest.hour == 11  # among the hours people came
