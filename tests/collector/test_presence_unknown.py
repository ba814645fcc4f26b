"""A zone the camera cannot read (``present: null``, with a view fault) reaches the dashboard's desk
grid as unknown with the fault's message, never as absent (real SQLite through the writer)."""
from __future__ import annotations

from datetime import datetime

import pytest

from collector.db import open_db
from collector.queries import Reader
from collector.store import Incoming, Store
from tests.collector.wire import VN, event, presence


def msg(tp: tuple[str, bytes]) -> Incoming:
    return Incoming(tp[0], tp[1], False, datetime.now(VN))


def test_unknown_zone_carries_the_fault_not_absence(sqlite_path):
    store = Store(open_db(sqlite_path))
    fault = {"code": "view_blocked", "active": True, "message_vi": "Vùng quầy bị che khuất, không xác định được có mặt",
             "message_en": "The zone's view is blocked: presence unknown", "detail": "q3-officer: mean 12, spread 1.0"}
    store.write_batch([msg(presence(3, "officer", True, device="cam-01", seq=1)),
                       msg(presence(3, "citizen", False, device="cam-01", seq=2)),
                       msg(event("presence", {"desk": 3, "zone": "officer", "kind": "change", "present": None,
                                              "since": "2026-11-23T09:00:00+07:00"}, device="cam-01", seq=3)),
                       msg(event("fault", fault, device="cam-01", seq=4))])
    d = Reader(sqlite_path).desks()[0]
    assert d["officer"]["present"] is None and d["officer"]["unknown"] is True
    assert d["officer"]["fault"]["code"] == "view_blocked"
    assert d["officer"]["fault"]["message_vi"].startswith("Vùng quầy bị che khuất")
    assert d["citizen"]["present"] is False and "unknown" not in d["citizen"]  # a readable zone stays as it is
    # the fault cleared and the view readable again: no longer unknown
    store.write_batch([msg(event("fault", {**fault, "active": False}, device="cam-01", seq=5)),
                       msg(presence(3, "officer", False, device="cam-01", seq=6))])
    d = Reader(sqlite_path).desks()[0]
    assert d["officer"]["present"] is False and "unknown" not in d["officer"]


def test_dashboard_card_shows_unknown_in_grey_with_the_fault(collector, publisher, artifacts):
    """Real collector and headless Chromium: the camera loses the view of desk 2's officer seat."""
    from tests.collector.test_browser import CHROMIUM_ARGS, log_in, site_state
    pw = pytest.importorskip("playwright.sync_api")
    from collector import auth
    from collector.db import open_db as open_writer
    from mqtt import topics
    from tests.collector.wire import SITE, now_iso
    conn = open_writer(collector.db)
    auth.add_user(conn, "quanly", "mat-khau-rat-dai")
    conn.close()
    publisher.send(topics.state(SITE, "site"), site_state(), retain=True)
    publisher.send(*presence(2, "officer", True, device="cam-01", seq=1))
    fault = {"code": "view_dark", "active": True, "message_vi": "Vùng quầy quá tối, không xác định được có mặt",
             "message_en": "The zone is too dark: presence unknown", "detail": "q2-officer: mean 3, spread 0.5"}
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = log_in(b, collector.url)
        page.wait_for_selector('.desk[data-desk="2"] .officer[data-present="true"]', timeout=15000)
        publisher.send_many([event("fault", fault, device="cam-01", seq=2),
                             event("presence", {"desk": 2, "zone": "officer", "kind": "change", "present": None,
                                                "since": now_iso()}, device="cam-01", seq=3)])
        officer = page.locator('.desk[data-desk="2"] .officer[data-present="unknown"]')
        officer.wait_for(timeout=15000)
        page.wait_for_function("() => document.querySelector('.desk[data-desk=\"2\"] .zone-fault') !== null",
                               timeout=15000)
        text = officer.inner_text()
        assert "Không xác định" in text and "Vắng" not in text and "quá tối" in text
        # the live view re-renders the card: Playwright's expect retries on the current element
        pw.expect(officer.locator(".presence-unknown")).to_have_css("color", "rgb(119, 119, 119)", timeout=15000)
        shots = artifacts / "collector"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "dashboard_presence_unknown.png"), full_page=True)
        page.goto(collector.url + "/?lang=en")
        page.wait_for_selector('.desk[data-desk="2"] .officer[data-present="unknown"]', timeout=15000)
        assert "Unknown" in page.locator('.desk[data-desk="2"] .officer').inner_text()
        b.close()
