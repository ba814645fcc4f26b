"""The portal's booking page and the online-service API against real ticketing on a real broker:
the page shows only free slots, books with the CSRF token (code + QR), refuses a full slot in both
languages, cancels by code; the API creates and cancels with the Bearer token, refuses without."""
from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest

from common.mosquitto import free_port
from mqtt.client import BrokerConfig
from mqtt.outbox import Outbox
from portal.config import PortalConfig
from portal.service import PortalService
from ticketing.config import load_ticketing
from ticketing.queue import Queue
from ticketing.server import ROLE, Server, persistent_client

SITE = "test-hcc"
TOKEN = "online-service-token-0123456789"
ALL_DAY = "\n".join(f'{d} = [["07:00", "17:00"]]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
SITE_TOML = f"""\
site = "{SITE}"
name_vi = "Trung tâm thử"
name_en = "Test centre"
appointment_capacity = 1
appointment_slot_min = 60
[hours]
{ALL_DAY}
[[services]]
code = "HT"
name_vi = "Hộ tịch"
name_en = "Civil status"
range_start = 1000
range_end = 3999
capacity = 3000
[[desks]]
number = 1
services = ["HT"]
"""


def wait(pred: Callable[[], Any], timeout: float = 20.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if v := pred():
            return v
        time.sleep(0.1)
    raise AssertionError("timed out")


class Site:
    def __init__(self, tmp: Path, url: str):
        (tmp / "site.toml").write_text(SITE_TOML, encoding="utf-8")
        (tmp / "ticketing.toml").write_text(f'site_config = "site.toml"\ndb = "{tmp / "t.db"}"\n\n[mqtt]\n'
                                            f'url = "{url}"\n', encoding="utf-8")
        cfg, site = load_ticketing(tmp / "ticketing.toml")
        self.queue = Queue(cfg.db, site)
        self.outbox = Outbox(cfg.outbox_path(), SITE, cfg.device)
        client = persistent_client(SITE, cfg.device, ROLE, BrokerConfig(url=url), outbox=self.outbox,
                                   telemetry_interval_s=0)
        self.server = Server(self.queue, client, self.outbox)
        self.server.start()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.portal = PortalService(PortalConfig(site=SITE, secret="portal-test-secret-0123456789", port=self.port,
                                                 state_dir=str(tmp / "portal"), mqtt=BrokerConfig(url=url),
                                                 api_token=TOKEN))
        self.portal.start()
        self.portal.serve_in_thread()
        wait(lambda: self.portal.tracker.site is not None and self._up())

    def _up(self) -> bool:
        try:
            return httpx.get(self.url + "/site.json", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.portal.stop()
        self.server.stop()
        self.outbox.close()
        self.queue.close()


@pytest.fixture
def site(tmp_path: Path, broker) -> Iterator[Site]:  # noqa: ANN001
    s = Site(tmp_path, broker.url)
    yield s
    s.stop()


def _tomorrow() -> str:
    return (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() + timedelta(days=1)).isoformat()


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field in the form"
    return m.group(1)


def test_api_books_and_cancels_with_the_token_only(site: Site) -> None:
    day = _tomorrow()
    api = site.url + "/api/v1/bookings"
    body = {"service": "HT", "day": day, "slot": "09:00", "source": "dvc-camau"}
    assert httpx.post(api, json=body).status_code == 403  # no Bearer: a browser-style request, CSRF refuses it
    assert httpx.post(api, json=body, headers={"Authorization": "Bearer wrong-token-000000000000"}).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = httpx.post(api, json=body, headers=auth)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert re.fullmatch(r"[0-9]{6}", code) and r.json()["status"] == "booked"
    full = httpx.post(api, json=body, headers=auth)
    assert full.status_code == 409 and full.json()["error"] == "slot_full"
    assert "hết chỗ" in full.json()["message_vi"] and "fully booked" in full.json()["message_en"]
    assert httpx.delete(f"{api}/{code}?day={day}").status_code == 403
    assert httpx.delete(f"{api}/{code}?day={day}", headers={"Authorization": "Bearer x" * 1}).status_code == 401
    gone = httpx.delete(f"{api}/{code}?day={day}", headers=auth)
    assert gone.status_code == 200 and gone.json()["status"] == "cancelled"
    assert httpx.delete(f"{api}/999999?day={day}", headers=auth).status_code == 404
    assert httpx.post(api, json=body, headers=auth).status_code == 201  # the place is free again


def test_booking_page_free_slots_csrf_code_qr_and_cancel(site: Site) -> None:
    day = _tomorrow()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(site.url + "/api/v1/bookings", json={"service": "HT", "day": day, "slot": "09:00"},
                      headers=auth).status_code == 201
    with httpx.Client(base_url=site.url) as web:
        page = web.get("/dat-lich", params={"service": "HT", "day": day})
        assert page.status_code == 200 and "Đặt lịch hẹn" in page.text
        assert 'value="08:00"' in page.text and 'value="09:00"' not in page.text  # the full slot is not offered
        form = {"service": "HT", "day": day, "slot": "10:00"}
        assert web.post("/dat-lich", data=form).status_code == 403  # no CSRF token
        token = _csrf(page.text)
        booked = web.post("/dat-lich", data=form | {"csrf_token": token})
        assert booked.status_code == 200, booked.text
        code = re.search(r'id="code">([0-9]{6})<', booked.text)
        assert code and "<svg" in booked.text  # the code and its QR
        full = web.post("/dat-lich", data={"service": "HT", "day": day, "slot": "09:00", "csrf_token": token})
        assert full.status_code == 409 and "hết chỗ" in full.text and "fully booked" in full.text
        cancelled = web.post("/dat-lich/huy", data={"code": code.group(1), "day": day, "csrf_token": token})
        assert cancelled.status_code == 200 and 'id="cancelled"' in cancelled.text
        assert 'value="10:00"' in web.get("/dat-lich", params={"service": "HT", "day": day}).text
    assert date.fromisoformat(day)
