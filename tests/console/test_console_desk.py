"""The console in real Chromium, with a real broker, ticketing and the collector: an appointment
checked in at the desk by its code becomes a priority ticket (the kiosk's rules: too early refused,
a code used once, a double click checks in once) and is called first; the officer's desk binding
survives a collector restart (the sessions table, migration v10)."""
from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest

from mqtt.schemas import Request, uuid7
from tests.support.wait import wait_for
from tests.ticketing.helpers import Kiosk

from .browser import clear_message, launch, message, page_wait, serving, take_desk

playwright = pytest.importorskip("playwright.sync_api")


def book(tk, slot: str) -> str:  # noqa: ANN001
    r = tk.queue.handle("book", Request(id=uuid7(), device="portal-1", service="HT", day=tk.queue.today(),
                                        slot=slot)).response
    assert r.ok, r.error
    return str(r.appointment.code)


def test_check_in_at_the_desk_is_a_priority_ticket_called_first(tmp_path, broker, ticketing,
                                                                console_collector, artifacts) -> None:  # noqa: ANN001
    slots = ticketing.queue.handle("slots", Request(id=uuid7(), device="portal-1", service="HT",
                                                    day=ticketing.queue.today())).response.slots
    now = datetime.now(ticketing.queue.tz)
    later = [s for s in slots if (int(s.start[:2]) * 60 + int(s.start[3:])) - (now.hour * 60 + now.minute) > 90]
    if not slots or not later:
        pytest.skip("too late in the local day for a slot now and one 90 min later (runs 00:00-22:25)")
    soon, far = book(ticketing, slots[0].start), book(ticketing, later[0].start)
    kiosk = Kiosk(broker.url, "kiosk-1", tmp_path)
    walk_ins = [kiosk.issue("HT").ticket for _ in range(2)]
    assert wait_for(lambda: ticketing.queue.service_state("HT").waiting == 2), "walk-ins queued"
    with playwright.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        take_desk(page, console_collector.url, 1)
        page_wait(page, "document.querySelectorAll('#waiting li[data-ticket]').length === 2")

        # a malformed code never leaves the collector
        page.fill("#checkin-code", "12ab")
        page.click("#act-check-in")
        assert "6 chữ số" in message(page)
        clear_message(page)

        # a double click checks in once: one priority ticket
        page.fill("#checkin-code", soon)
        page.dblclick("#act-check-in")
        text = message(page)
        assert text.startswith(f"Đã nhận lịch hẹn {soon}: số ưu tiên"), text
        st = ticketing.queue.service_state("HT")
        assert st.waiting == 3 and st.waiting_by_priority.get("appointment") == 1
        label = text.rsplit(" ", 1)[-1]
        assert st.queue == [label, *walk_ins], "the checked-in appointment waits first"
        assert len(set(page.evaluate("window.motcuaConsole.sent"))) == 2  # 12ab, then ONE id for the double click
        page_wait(page, f"[...document.querySelectorAll('#waiting li[data-ticket]')].some(li => "
                        f"li.dataset.ticket === '{label}' && li.textContent.includes('appointment'))")
        page.screenshot(path=str(artifacts / "console_check_in.png"), full_page=True)

        # the same code again (a new press, past the double-click window): used once
        clear_message(page)
        page.wait_for_timeout(1600)
        page.click("#act-check-in")
        assert f"Lịch hẹn {soon} đã được dùng" in message(page)
        # too early, as at the kiosk
        clear_message(page)
        page.fill("#checkin-code", far)
        page.click("#act-check-in")
        assert "Chưa đến giờ hẹn" in message(page)
        assert ticketing.queue.service_state("HT").waiting == 3

        # counted like any ticket: called first, before the walk-ins who came earlier
        page.click("#act-call-next")
        assert wait_for(lambda: serving(ticketing) == label), "the appointment is called first"
        assert ticketing.queue.desk_state(1).priority == "appointment"
        browser.close()
    kiosk.close()


def test_the_desk_binding_survives_a_collector_restart(tmp_path, broker, ticketing, console_collector) -> None:  # noqa: ANN001
    kiosk = Kiosk(broker.url, "kiosk-1", tmp_path)
    first = kiosk.issue("HT").ticket
    assert wait_for(lambda: ticketing.queue.service_state("HT").waiting == 1), "ticket queued"

    def bound() -> list[int | None]:
        with sqlite3.connect(console_collector.db) as c:
            return [r[0] for r in c.execute("SELECT desk FROM sessions")]

    with playwright.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        take_desk(page, console_collector.url, 2)
        assert bound() == [2]

        console_collector.stop()
        console_collector.start()
        page.goto(console_collector.url + "/console")
        page.wait_for_selector("#console")  # no desk to pick again
        assert page.locator("#console").get_attribute("data-desk") == "2"
        page.click("#act-call-next")
        assert wait_for(lambda: serving(ticketing, 2) == first), "called at desk 2 after the restart"

        page.click("#desk-leave")
        page.wait_for_selector("#desk-select")
        assert wait_for(lambda: ticketing.queue.desk_state(2).officer is None), "signed out"
        assert bound() == [None]
        browser.close()
    kiosk.close()
