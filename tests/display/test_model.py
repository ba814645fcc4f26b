"""HallModel from hand-made retained state payloads: what is shown, what is announced."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from common.clock import FakeClock
from kiosk.display.model import HallModel
from mqtt import topics
from tests.display.payloads import CALLS, calls_state, service_states, site_state

SITE = "camau-hcc"
START = datetime.fromisoformat("2026-11-23T09:15:00+07:00")
T_CALLS = topics.state(SITE, "calls")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def model(clock: FakeClock) -> HallModel:
    return HallModel(recent=3, announce_max_age_s=30, clock=clock)


def feed_site(m: HallModel, day: str = "2026-11-23") -> None:
    m.apply(topics.state(SITE, "site"), site_state(SITE), retained=True)
    for code, payload in service_states(day).items():
        m.apply(topics.state(SITE, "service", code), payload, retained=True)


def test_retained_state_shows_current_recent_and_waiting(model: HallModel, clock: FakeClock) -> None:
    feed_site(model)
    new = model.apply(T_CALLS, calls_state(clock.now() - timedelta(minutes=5), CALLS), retained=True)
    v = model.view()
    assert new == []  # five minutes old: shown, not announced again after a restart
    assert (v.current.ticket, v.current.desk, v.current.service_vi) == ("1023", 5, "Hộ tịch")
    assert [(c.ticket, c.desk) for c in v.recent] == [("1022", 3), ("1021", 1), ("1020", 2)]  # recent=3
    assert [(w.code, w.name_vi, w.waiting, w.est_wait_min) for w in v.waiting] == [
        ("HT", "Hộ tịch", 12, 8), ("DD", "Đất đai", 3, 15), ("KD", "Đăng ký kinh doanh", 0, None)]
    assert v.site_vi.startswith("Trung tâm Phục vụ")


def test_fresh_retained_call_is_announced_once(model: HallModel, clock: FakeClock) -> None:
    payload = calls_state(clock.now() - timedelta(seconds=10), CALLS)
    new = model.apply(T_CALLS, payload, retained=True)
    assert [(c.ticket, c.desk) for c in new] == [("1023", 5)]  # the others are a minute or more old
    # the same retained message again (reconnect, ticketing republishing): nothing new
    assert model.apply(T_CALLS, payload, retained=True) == []
    assert model.apply(T_CALLS, payload, retained=False) == []


def test_live_call_and_recall_are_announced(model: HallModel, clock: FakeClock) -> None:
    t = clock.now() - timedelta(minutes=10)
    model.apply(T_CALLS, calls_state(t, CALLS), retained=True)
    clock.advance(5)
    t2 = t + timedelta(seconds=70)
    new = model.apply(T_CALLS, calls_state(t2, [("1024", 2, "HT")] + CALLS, step_s=70), retained=False)
    assert [(c.ticket, c.desk, c.recall) for c in new] == [("1024", 2, False)]
    # a recall of 1024: a new entry with a newer `at`
    t3 = t2 + timedelta(seconds=40)
    new = model.apply(T_CALLS, calls_state(t3, [("1024", 2, "HT"), ("1024", 2, "HT")] + CALLS, step_s=40,
                                           recall_first=True), retained=False)
    assert [(c.ticket, c.recall) for c in new] == [("1024", True)]
    v = model.view()
    assert v.current.ticket == "1024" and v.current.recall


def test_live_announcement_ignores_a_wrong_local_clock(clock: FakeClock) -> None:
    # a Pi without NTP: its clock is a year behind; live calls are still announced
    m = HallModel(clock=FakeClock(START - timedelta(days=365)))
    m.apply(T_CALLS, calls_state(START, CALLS[1:]), retained=True)
    new = m.apply(T_CALLS, calls_state(START + timedelta(seconds=60), CALLS), retained=False)
    assert [c.ticket for c in new] == ["1023"]


def test_burst_after_outage_is_capped(clock: FakeClock) -> None:
    m = HallModel(clock=clock, max_burst=2)
    many = [(str(2000 + i), 1 + i % 4, "HT") for i in range(8)]
    new = m.apply(T_CALLS, calls_state(clock.now(), many, step_s=1), retained=True)
    assert [c.ticket for c in new] == ["2001", "2000"]  # the newest two, oldest first


def test_cleared_service_state_is_dropped(model: HallModel) -> None:
    feed_site(model)
    model.apply(topics.state(SITE, "service", "DD"), b"", retained=False)
    assert [w.waiting for w in model.view().waiting] == [12, 0, 0]


def test_yesterdays_waiting_counts_are_not_shown(model: HallModel) -> None:
    feed_site(model, day="2026-11-22")
    assert all(w.waiting == 0 for w in model.view().waiting)


def test_bad_payloads_are_counted_not_raised(model: HallModel) -> None:
    before = model.view().version
    assert model.apply(T_CALLS, b"{not json", retained=True) == []
    assert model.apply(topics.state(SITE, "service", "HT"), b'{"v":1,"service":"HT"}') == []
    assert model.apply("elsewhere/x", b"{}") == []
    assert model.rejected == 3
    assert model.view().version == before and model.view().current is None


def test_cleared_calls_state_empties_the_screen(model: HallModel, clock: FakeClock) -> None:
    model.apply(T_CALLS, calls_state(clock.now(), CALLS), retained=True)
    assert model.apply(T_CALLS, b"", retained=False) == []
    assert model.view().current is None and model.view().recent == ()


def test_out_of_order_note_only_while_a_kiosk_issues_offline(model: HallModel) -> None:
    from mqtt.schemas import NumberingState
    k1 = topics.device_state("camau-hcc", "kiosk-1", "numbering")
    k2 = topics.device_state("camau-hcc", "kiosk-2", "numbering")
    assert not model.view().out_of_order
    model.apply(k1, NumberingState(offline=True).dumps(), retained=True)
    model.apply(k2, NumberingState(offline=True).dumps())
    assert model.view().out_of_order
    model.apply(k1, NumberingState(offline=False).dumps())
    assert model.view().out_of_order  # kiosk-2 still issues from its leases
    model.apply(k2, b"")  # its retained flag cleared
    assert not model.view().out_of_order
    model.apply(k1, b'{"v": 1, "offline": "maybe"}')
    assert model.rejected == 1 and not model.view().out_of_order


# -- breaks and closing (state/hours) ----------------------------------------------------------

T_HOURS = topics.state(SITE, "hours")


def hours(status: str, vi: str = "", en: str = "") -> bytes:
    from mqtt.schemas import HoursState

    return HoursState(status=status, message_vi=vi, message_en=en).dumps()  # type: ignore[arg-type]


def test_break_clears_now_serving_stops_announcing_and_holds_waits(model: HallModel, clock: FakeClock) -> None:
    feed_site(model)
    model.apply(T_CALLS, calls_state(clock.now() - timedelta(minutes=5), CALLS), retained=True)
    model.apply(T_HOURS, hours("break", "Nghỉ trưa – làm việc lại lúc 13:30", "Lunch break – back at 13:30"))
    v = model.view()
    assert v.hours_status == "break" and v.current is None and v.recent == ()
    assert (v.hours_vi, v.hours_en) == ("Nghỉ trưa – làm việc lại lúc 13:30", "Lunch break – back at 13:30")
    # a call published during the break (an officer pressing "next") is neither shown nor announced
    clock.advance(60)
    new = model.apply(T_CALLS, calls_state(clock.now(), [("1024", 2, "HT")] + CALLS), retained=False)
    assert new == [] and model.view().current is None
    # ticketing's estimate grows while people take numbers over lunch: the hall keeps the old one
    from mqtt.schemas import ServiceState

    model.apply(topics.state(SITE, "service", "HT"), ServiceState(
        service="HT", day="2026-11-23", waiting=30, issued=40, capacity=300, est_wait_s=3600).dumps())
    ht = next(w for w in model.view().waiting if w.code == "HT")
    assert (ht.waiting, ht.est_wait_min) == (30, 8)  # the count is true; the wait held at 8 min
    # reopening: the board is normal again, the held wait released, the next call announced
    model.apply(T_HOURS, hours("open"))
    v = model.view()
    assert v.hours_status == "open" and v.hours_vi == "" and v.current is not None
    assert v.current.ticket == "1024"  # the break's call is shown now, but was never announced
    assert next(w for w in v.waiting if w.code == "HT").est_wait_min == 60
    clock.advance(60)
    new = model.apply(T_CALLS, calls_state(clock.now(), [("1025", 3, "HT"), ("1024", 2, "HT")] + CALLS),
                      retained=False)
    assert [c.ticket for c in new] == ["1025"]


def test_closed_status_and_a_bad_hours_payload(model: HallModel, clock: FakeClock) -> None:
    model.apply(T_CALLS, calls_state(clock.now() - timedelta(seconds=5), CALLS), retained=True)
    model.apply(T_HOURS, hours("closed", "Đã hết giờ làm việc", "Closed"))
    assert model.view().current is None and model.view().hours_status == "closed"
    model.apply(T_HOURS, b'{"v": 1, "status": "lunch"}')  # not a status: counted, state kept
    assert model.rejected == 1 and model.view().hours_status == "closed"
    model.apply(T_HOURS, b"")  # retained message cleared: back to the calls
    assert model.view().hours_status == "open" and model.view().current.ticket == "1023"
