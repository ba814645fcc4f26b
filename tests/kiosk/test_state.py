"""KioskState: opening hours, closed days, waiting and estimated wait from retained state."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo
from pathlib import Path

from common.clock import FakeClock
from kiosk.state import KioskState
from kiosk.store import KioskStore
from mqtt import topics
from mqtt.client import Message
from tests.kiosk.helpers import TZ, service_state, site_state


def at(h: int, m: int, day: int = 23) -> FakeClock:
    return FakeClock(datetime(2026, 11, day, h, m, tzinfo=TZ))


def test_opening_hours_and_closed_days() -> None:
    s = KioskState("camau-hcc", clock=at(9, 0))
    assert not s.is_open()  # no site config yet
    s.set_site(site_state())
    assert s.is_open()
    for (h, m, day), want in {(7, 29, 23): False, (7, 30, 23): True, (11, 30, 23): False, (12, 0, 23): False,
                              (13, 30, 23): True, (16, 59, 23): True, (17, 0, 23): False,
                              (9, 0, 28): True, (14, 0, 28): False, (9, 0, 29): False}.items():
        assert s.is_open(datetime(2026, 11, day, h, m, tzinfo=TZ)) is want, (h, m, day)
    # the same instant in UTC is judged in the site's time zone
    assert s.is_open(datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("UTC")))
    s.set_site(site_state(closed_days=["2026-11-23"]))
    assert not s.is_open()
    assert s.hours_today() == ""


def test_people_ahead_and_estimated_wait() -> None:
    s = KioskState("camau-hcc", clock=at(9, 0))
    s.set_site(site_state())
    s.set_service(service_state("HT", 4, 1200.0))
    assert s.people_ahead("HT") == 4 and s.est_wait_s("HT") == 1200.0
    s.note_issued("HT")
    s.note_issued("HT")
    assert s.people_ahead("HT") == 6 and s.est_wait_s("HT") == 1800.0
    s.set_service(service_state("HT", 5, 1500.0))  # ticketing counted ours: local count resets
    assert s.people_ahead("HT") == 5
    assert s.people_ahead("DD") == 0 and s.est_wait_s("DD") == 0.0
    s.set_service(service_state("KD", 9, 100.0, day="2026-11-22"))  # yesterday's: ignored
    assert s.people_ahead("KD") == 0 and not s.finished("KD")
    s.set_service(service_state("TP", 0, None, finished=True))
    assert s.finished("TP")
    assert [v.code for v in s.service_views()] == ["HT", "DD", "KD", "TP"]


def test_retained_messages_and_cache_across_restart(tmp_path: Path) -> None:
    store = KioskStore(tmp_path / "k.db")
    s = KioskState("camau-hcc", clock=at(9, 0), store=store)
    s.on_message(Message(topics.state("camau-hcc", "site"), site_state().dumps(), True))
    s.on_message(Message(topics.state("camau-hcc", "service", "HT"), service_state("HT", 3, 300.0).dumps(), True))
    s.on_message(Message(topics.state("camau-hcc", "service", "DD"), b"{not json", True))  # logged, ignored
    assert s.site is not None and s.people_ahead("HT") == 3
    s2 = KioskState("camau-hcc", clock=at(9, 0), store=store)  # reboot with the server down
    assert s2.site is not None and s2.site.name_vi.startswith("Trung tâm") and s2.people_ahead("HT") == 3
    store.close()
