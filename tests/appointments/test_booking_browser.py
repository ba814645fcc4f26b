"""The portal's booking page (/dat-lich) in real Chromium against real ticketing on a real broker:
pick service, day and slot, book, see the code and its QR, cancel; two citizens on the same slot
(capacity 1): the second is refused with the Vietnamese and English message."""
from __future__ import annotations

import re

import pytest

from tests.collector.test_browser import CHROMIUM_ARGS

from .test_portal_booking import Site, _tomorrow, site  # noqa: F401 - the fixture

playwright = pytest.importorskip("playwright.sync_api")


def choose(page, url: str, day: str) -> None:  # noqa: ANN001
    """Open the page, pick the service and the day, show the free slots and pick 09:00."""
    page.goto(url + "/dat-lich")
    page.select_option("#service", "HT")
    page.select_option("#day", day)
    page.click("#show")
    page.wait_for_selector('#book input[name="slot"]')
    page.check('#book input[value="09:00"]')


def status(site: Site, code: str) -> str:
    row = site.queue._db.execute("SELECT status FROM appointments WHERE code=?", (code,)).fetchone()
    return str(row[0]) if row else "none"


def test_book_see_code_and_qr_cancel_and_a_full_slot_refused(site: Site, artifacts) -> None:  # noqa: ANN001, F811
    day = _tomorrow()
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        first = browser.new_context(viewport={"width": 412, "height": 915}).new_page()  # a phone
        second = browser.new_context(viewport={"width": 412, "height": 915}).new_page()
        choose(first, site.url, day)
        choose(second, site.url, day)  # both see 09:00 free

        first.click("#book-btn")
        first.wait_for_selector("#code")
        code = first.locator("#code").inner_text().strip()
        assert re.fullmatch(r"[1-9][0-9]{5}", code), code
        assert first.locator("#qr svg").count() == 1
        assert day in first.locator("#booked").inner_text() and "09:00" in first.locator("#booked").inner_text()
        assert status(site, code) == "booked"
        first.screenshot(path=str(artifacts / "booking_code.png"), full_page=True)

        second.click("#book-btn")  # the slot filled meanwhile
        second.wait_for_selector("#problem")
        problem = second.locator("#problem").inner_text()
        assert "Khung giờ 09:00" in problem and "đã hết chỗ" in problem, problem
        assert "The 09:00 slot" in problem and "fully booked" in problem, problem
        assert second.locator("#code").count() == 0
        assert second.locator('#book input[value="09:00"]').count() == 0  # no longer offered
        second.screenshot(path=str(artifacts / "booking_full.png"), full_page=True)

        first.fill("#ccode", code)
        first.fill("#cday", day)
        first.click("#cancel-btn")
        first.wait_for_selector("#cancelled")
        assert code in first.locator("#cancelled").inner_text()
        assert status(site, code) == "cancelled"

        choose(second, site.url, day)  # the place is free again
        second.click("#book-btn")
        second.wait_for_selector("#code")
        assert status(site, second.locator("#code").inner_text().strip()) == "booked"
        browser.close()
