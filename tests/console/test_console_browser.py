"""The officer console in real Chromium, with a real broker, ticketing (registry: console-1 may act
for desks 1-3) and the collector: calls (a double click calls once), recalls (cooldown and cap
enforced), no-show (only after 2 calls), transfer, finish, shortcuts, sign in and out."""
from __future__ import annotations

import time

import pytest

from mqtt.client import BrokerConfig, DeviceClient
from mqtt.schemas import Request, uuid7
from tests.support.wait import wait_for
from tests.ticketing.helpers import SITE, Kiosk

from .browser import clear_message, launch, message, page_wait, serving, take_desk
from .conftest import OFFICER

playwright = pytest.importorskip("playwright.sync_api")


def test_console_calls_recalls_no_show_transfer_finish(tmp_path, broker, ticketing, console_collector,
                                                       artifacts) -> None:  # noqa: ANN001
    kiosk = Kiosk(broker.url, "kiosk-1", tmp_path)
    tickets = [kiosk.issue("HT").ticket for _ in range(3)] + [kiosk.issue("DD").ticket]
    assert wait_for(lambda: ticketing.queue.service_state("HT").waiting == 3
                    and ticketing.queue.service_state("DD").waiting == 1), "tickets queued"
    shots = artifacts / "console"
    shots.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        take_desk(page, console_collector.url, 1)
        assert wait_for(lambda: ticketing.queue.desk_state(1).officer == OFFICER), "officer signed in"
        page_wait(page, "document.querySelectorAll('#waiting li[data-ticket]').length === 4")

        # a double click calls ONE ticket
        page.dblclick("#act-call-next")
        page_wait(page, f"document.getElementById('current').textContent.startsWith('{tickets[0]}')")
        time.sleep(1.0)
        assert serving(ticketing) == tickets[0]
        assert ticketing.queue.service_state("HT").waiting == 2, "a double click called two tickets"
        sent = page.evaluate("window.motcuaConsole.sent")
        assert len(sent) >= 1 and len(set(sent)) == 1
        page.screenshot(path=str(shots / "console_serving.png"), full_page=True)

        # recall at once: refused by the cooldown (3 s); after it, accepted
        calls_before = len(ticketing.queue.calls_state().calls)
        page.click("#act-recall")
        assert "giây" in message(page)
        assert len(ticketing.queue.calls_state().calls) == calls_before
        time.sleep(3.2)
        clear_message(page)
        page.click("#act-recall")
        assert wait_for(lambda: len(ticketing.queue.calls_state().calls) == calls_before + 1), "recall"
        assert ticketing.queue.calls_state().calls[0].recall

        # no-show after 2 calls: accepted
        page.keyboard.press("v")
        assert wait_for(lambda: serving(ticketing) is None), "no-show"

        # shortcut N calls the next; no-show after only one call is refused
        page.keyboard.press("n")
        assert wait_for(lambda: serving(ticketing) == tickets[1]), "second call"
        clear_message(page)
        page.wait_for_timeout(1600)  # past the double-click window
        page.click("#act-no-show")
        assert "vắng mặt" in message(page)
        assert serving(ticketing) == tickets[1]

        # transfer to XD (not this desk's service): it leaves the desk and waits in XD
        page.select_option("#to-service", "XD")
        page.click("#act-transfer")
        assert wait_for(lambda: ticketing.queue.service_state("XD").waiting == 1), "transfer"
        assert serving(ticketing) is None

        # call and finish
        page.click("#act-call-next")
        assert wait_for(lambda: serving(ticketing) == tickets[2]), "third call"
        page.wait_for_timeout(300)
        page.keyboard.press("f")
        assert wait_for(lambda: serving(ticketing) is None
                        and ticketing.queue.service_state("HT").waiting == 0), "finish"
        page_wait(page, "document.querySelectorAll('#waiting li[data-ticket]').length === 1")
        assert page.locator("#waiting li[data-ticket]").get_attribute("data-ticket") == tickets[3]
        page.screenshot(path=str(shots / "console_after.png"), full_page=True)

        page.click("#desk-leave")
        assert wait_for(lambda: ticketing.queue.desk_state(1).officer is None), "sign-out"
        browser.close()
    kiosk.close()


def test_console_device_only_for_its_desks(broker, ticketing) -> None:  # noqa: ANN001
    """The registry gives console-1 desks 1-3: a request for desk 4 is refused; a rating terminal
    cannot act as the console at desk 1."""
    con = DeviceClient(SITE, "console-1", "console", BrokerConfig(url=broker.url), telemetry_interval_s=0)
    rt = DeviceClient(SITE, "rt-04", "rating-terminal", BrokerConfig(url=broker.url), telemetry_interval_s=0)
    for c in (con, rt):
        c.start()
        assert c.wait_connected(10)
    try:
        r = con.request("sign-in", Request(id=uuid7(), device="console-1", desk=4, officer="nv-9"))
        assert not r.ok and r.error == "forbidden"
        r = con.request("sign-in", Request(id=uuid7(), device="console-1", desk=2, officer="nv-9"))
        assert r.ok and ticketing.queue.desk_state(2).officer == "nv-9"
        r = rt.request("call-next", Request(id=uuid7(), device="rt-04", desk=1))
        assert not r.ok and r.error == "forbidden"
    finally:
        con.stop()
        rt.stop()
