"""The citizen's phone, end to end: a real Mosquitto, ticketing, the collector (a subprocess), the
portal and Chromium at 360x640 and 390x844. Kiosk and desks are real MQTT clients."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from playwright import sync_api as playwright
from playwright.sync_api import expect

from common.mosquitto import free_port
from common.ticket_token import make_token, read_token
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox
from mqtt.schemas import RatingData
from portal.config import PortalConfig
from portal.service import PortalService
from tests.collector.wire import CollectorProcess
from tests.portal.history import VN, seed_history
from tests.ticketing.helpers import SITE, Desk, Kiosk, write_configs
from ticketing.config import load_ticketing
from ticketing.queue import Queue
from ticketing.server import ROLE, Server, persistent_client

SECRET = "portal-test-secret-0123456789"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ROOT = Path(__file__).resolve().parents[2]


def wait(pred: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Site:
    """Ticketing, the collector and the portal on one broker."""

    def __init__(self, tmp: Path, url: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg_path = write_configs(tmp, url)
        site_toml = tmp / "site.toml"  # the kiosks' QR codes open this portal
        all_day = "\n".join(f'{d} = [["00:00", "23:59"]]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
        text = site_toml.read_text(encoding="utf-8").replace('mon = [["07:00", "11:30"], ["13:30", "17:00"]]', all_day)
        site_toml.write_text(f'portal_url = "{self.url}"\n' + text, encoding="utf-8")
        cfg, site = load_ticketing(cfg_path)
        self.queue = Queue(cfg.db, site, device=cfg.device)
        self.t_outbox = Outbox(cfg.outbox_path(), site.site, cfg.device)
        client = persistent_client(site.site, cfg.device, ROLE, BrokerConfig(url=url), outbox=self.t_outbox,
                                   telemetry_interval_s=0)
        self.server = Server(self.queue, client, self.t_outbox)
        self.server.start()
        # the collector trusts a device registry (authz): the portal's ratings and feedback must pass it
        (tmp / "devices.toml").write_text(
            f'site = "{SITE}"\n[devices.portal]\nrole = "portal"\n[devices.ticketing]\nrole = "ticketing"\n'
            '[devices.kiosk-1]\nrole = "kiosk"\n[devices.kiosk-9]\nrole = "kiosk"\n'
            + "".join(f'[devices.rt-0{n}]\nrole = "rating-terminal"\ndesk = {n}\n' for n in (1, 2, 3)), encoding="utf-8")
        (tmp / "collector.toml").write_text('devices = "devices.toml"\n', encoding="utf-8")
        from collector.db import open_db
        from collector.store import Store
        conn = open_db(tmp / "collector.db")  # past weeks of tickets: the busy hours come from them
        seed_history(Store(conn), datetime.now(VN).date(), SITE)
        conn.close()
        self.collector = CollectorProcess(url, tmp / "collector.db", site=SITE,
                                          extra=["--config", str(tmp / "collector.toml")]).start()
        pc = PortalConfig(site=SITE, secret=SECRET, port=self.port, state_dir=str(tmp / "portal"),
                          mqtt=BrokerConfig(url=url))
        self.portal = PortalService(pc)
        self.portal.start()
        self.portal.serve_in_thread()
        wait(lambda: self.portal.tracker.site is not None and _up(self.url), what="portal up with state/site")

    def stop(self) -> None:
        self.portal.stop()
        self.collector.stop()
        self.server.stop()
        self.t_outbox.close()
        self.queue.close()

    def stored(self, type_: str) -> list[dict[str, Any]]:
        db = sqlite3.connect(self.collector.db)
        try:
            rows = db.execute("SELECT payload FROM events WHERE type=? ORDER BY seq", (type_,)).fetchall()
        finally:
            db.close()
        return [json.loads(r[0]) for r in rows]

    def rating_rows(self, device: str) -> list[tuple[Any, ...]]:
        """The collector's typed ratings of ``device`` (what reports count), oldest first."""
        db = sqlite3.connect(self.collector.db)
        try:
            return [tuple(r) for r in db.execute("SELECT ticket, score, misuse, misuse_reason FROM ratings "
                                                 "WHERE device=? ORDER BY ts_epoch", (device,))]
        finally:
            db.close()


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/site.json", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def site(module_broker, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    s = Site(tmp_path_factory.mktemp("portal"), module_broker.url)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_token_is_keyed_per_site_day_and_ticket() -> None:
    tok = make_token(SECRET.encode(), SITE, "2026-12-01", "1001")
    assert read_token(SECRET.encode(), SITE, tok) == ("2026-12-01", "1001")
    assert "1001" not in tok
    assert read_token(b"another-secret-0000", SITE, tok) is None
    assert read_token(SECRET.encode(), "other-site", tok) is None
    # a token for a neighbouring number cannot be made by changing characters
    forged = tok[:-1] + ("A" if tok[-1] != "A" else "B")
    assert read_token(SECRET.encode(), SITE, forged) is None


def test_the_phone_follows_the_ticket_live_and_rates_it(site: Site, module_broker, tmp_path: Path,
                                                        browser: playwright.Browser, artifacts: Path) -> None:
    shots = artifacts / "portal"
    shots.mkdir(parents=True, exist_ok=True)
    kiosk = Kiosk(module_broker.url, "kiosk-1", tmp_path)
    desks = [Desk(module_broker.url, n) for n in (1, 2, 3)]
    try:
        tickets = [kiosk.issue("HT") for _ in range(3)]
        mine = tickets[2]
        url = f"{site.url}/ve/{make_token(SECRET.encode(), SITE, mine.day, mine.ticket)}"
        ctx = browser.new_context(viewport={"width": 360, "height": 640})
        page = ctx.new_page()
        page.goto(url)
        assert page.locator("#number").inner_text() == mine.ticket
        assert "Hộ tịch" in page.locator("#service").inner_text()
        expect(page.locator("#ahead")).to_have_text("2", timeout=20000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
        page.screenshot(path=str(shots / "ticket-waiting-360.png"))
        # the position falls as desks call, without reloading
        page.evaluate("window.__loaded = 1")
        desks[0].ask("call-next")
        expect(page.locator("#ahead")).to_have_text("1", timeout=20000)
        desks[1].ask("call-next")
        expect(page.locator("#ahead")).to_have_text("0", timeout=20000)
        assert page.locator("#rate").is_hidden()
        r = desks[2].ask("call-next")
        assert r.ticket is not None and r.ticket.ticket == mine.ticket
        expect(page.locator("#status")).to_contain_text("quầy 3", timeout=20000)
        assert "Mời bạn đến quầy 3" in page.locator("#status").inner_text()
        page.screenshot(path=str(shots / "ticket-called-360.png"))
        assert page.evaluate("window.__loaded") == 1  # the same page: no reload
        desks[2].ask("finish")
        expect(page.locator("#rate")).to_be_visible(timeout=20000)
        assert "Đã hoàn thành" in page.locator("#status").inner_text()
        page.screenshot(path=str(shots / "ticket-rate-360.png"), full_page=True)
        page.locator("label.score").nth(0).click()  # best first: 5
        page.fill("#comment", "Cán bộ nhiệt tình <b>tốt</b>")
        page.click("#send")
        page.wait_for_selector("#notice")
        assert "Cảm ơn" in page.locator("#notice").inner_text()
        ratings = wait(lambda: site.stored("rating"), what="the phone rating in the collector")
        d = ratings[0]["data"]
        assert (d["channel"], d["ticket"], d["desk"], d["officer"], d["service"], d["score"], d["misuse"]) == \
            ("phone", mine.ticket, 3, "nv-0003", "HT", 5, False)
        assert d["comment"] == "Cán bộ nhiệt tình <b>tốt</b>"
        assert ratings[0]["device"] == "portal"
        assert "no device registry" not in site.collector.log.read_text()  # authz screened it
        # a second rating of the same ticket is recorded as misuse, never dropped
        page.goto(url)
        assert page.locator("#rate").is_hidden()
        page.evaluate("document.getElementById('rate').hidden = false")
        page.locator("label.score").nth(4).click()
        page.click("#send")
        page.wait_for_selector("#notice")
        two = wait(lambda: (r := site.stored("rating")) and len(r) >= 2 and r, what="the second rating")
        assert (two[1]["data"]["misuse"], two[1]["data"]["misuse_reason"], two[1]["data"]["score"]) == \
            (True, "same_ticket", 1)
        # the desk's terminal knows nothing of the phone: its rating of the same ticket lands as misuse
        ob = Outbox(tmp_path / "rt-03-outbox.db", SITE, "rt-03")
        rt = DeviceClient(SITE, "rt-03", "rating-terminal", BrokerConfig(url=module_broker.url), outbox=ob, desk=3,
                          client_id="rt-03-buttons", telemetry_interval_s=0)
        rt.start()
        ob.enqueue("rating", RatingData(desk=3, score=2, scale=5, ticket=mine.ticket, service="HT",
                                        officer="nv-0003", misuse=False))
        try:
            desk_row = wait(lambda: site.rating_rows("rt-03"), what="the desk rating in the collector")
        finally:
            rt.stop()
            ob.close()
        assert desk_row == [(mine.ticket, 2, 1, "same_ticket")]
        assert site.rating_rows("portal") == [(mine.ticket, 5, 0, None), (mine.ticket, 1, 1, "same_ticket")]
        # English switch
        page.click("#lang")
        assert "Finished" in page.locator("#status").inner_text()
        ctx.close()
    finally:
        for d in desks:
            d.close()
        kiosk.close()


def test_a_real_kiosk_prints_a_qr_that_opens_the_ticket_page(site: Site, module_broker, tmp_path: Path,
                                                              browser: playwright.Browser) -> None:
    from kiosk.config import KioskConfig
    from kiosk.runtime import build
    from tests.kiosk.escpos_decode import decode_qr, ticket_bitmap

    cfg = KioskConfig.model_validate({
        "kiosk": {"site": SITE, "device": "kiosk-9", "state_dir": str(tmp_path / "kiosk"), "lease_size": 20,
                  "lease_low": 5, "fullscreen": False, "qr_template": "{portal}/ve/{token}",
                  "ticket_secret": SECRET},
        "printer": {"kind": "dummy", "width_mm": 80}, "mqtt": {"url": module_broker.url}})
    k = build(cfg, print_async=False)
    k.start()
    try:
        wait(lambda: k.state.site is not None and k.state.site.portal_url, what="the kiosk reads state/site")

        def issue() -> Any:
            k.controller.go_home()
            k.controller.choose_service("HT")
            return k.controller.choose_priority(None)  # None until the first lease came back

        try:
            ticket = wait(issue, what="a ticket issued")
        except AssertionError:
            c = k.controller
            raise AssertionError(f"no ticket: screen {c.screen} base {c.base_screen()} notice {c.notice}") from None
        qr = decode_qr(ticket_bitmap(k.printer.printer.output))  # type: ignore[union-attr]
        assert qr.startswith(f"{site.url}/ve/") and ticket.ticket not in qr.rsplit("/", 1)[1]
        page = browser.new_context(viewport={"width": 360, "height": 640}).new_page()
        page.goto(qr)
        assert page.locator("#number").inner_text() == ticket.ticket
        expect(page.locator("#status")).to_have_text("Đang chờ", timeout=20000)
        page.context.close()
    finally:
        k.stop()


def test_forged_or_expired_tokens_get_a_clear_page_and_change_nothing(site: Site,
                                                                      browser: playwright.Browser) -> None:
    today = site.portal.tracker.today()
    good = make_token(SECRET.encode(), SITE, today, "1001")
    forged = make_token(b"not-the-site-secret-000", SITE, today, "1001")
    yesterday = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
    expired = make_token(SECRET.encode(), SITE, yesterday, "1001")
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    before = len(site.stored("rating"))
    r = page.goto(f"{site.url}/ve/{forged}")
    assert r is not None and r.status == 404
    assert "không đúng" in page.locator("#message").inner_text()
    r = page.goto(f"{site.url}/ve/1001")
    assert r is not None and r.status == 404
    r = page.goto(f"{site.url}/ve/{expired}")
    assert r is not None and r.status == 410
    assert "hết hạn" in page.locator("#message").inner_text()
    page.goto(f"{site.url}/ve/{good}")  # for the CSRF cookie
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    for tok in (forged, expired):
        resp = page.request.post(f"{site.url}/ve/{tok}/rate", form={"score": "5", "csrf_token": token or ""},
                                 headers={"Origin": site.url})
        assert resp.status in (404, 410)
    time.sleep(1.0)
    assert len(site.stored("rating")) == before
    ctx.close()


def test_forms_without_csrf_are_refused_and_feedback_reaches_the_collector(site: Site,
                                                                           browser: playwright.Browser) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    resp = page.request.post(f"{site.url}/phan-anh", form={"text": "xin chào", "consent": "yes"},
                             headers={"Origin": site.url})
    assert resp.status == 403
    page.goto(f"{site.url}/phan-anh")
    page.fill("#text", "Phòng chờ quá nóng, đề nghị lắp thêm quạt.")
    page.fill("#phone", "0912345678")
    page.click("#fsend")  # the consent box is required: the browser stops here
    assert page.locator("#notice").count() == 0
    page.check("#consent")
    page.click("#fsend")
    page.wait_for_selector("#notice")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    fb = wait(lambda: site.stored("feedback"), what="feedback in the collector")
    assert fb[-1]["data"]["phone"] == "0912345678" and fb[-1]["data"]["consent"] is True
    assert fb[-1]["data"]["kind"] == "complaint"
    # managers (only) see it in the collector's dashboard, escaped
    from collector import auth
    from collector.db import open_db
    conn = open_db(site.collector.db)
    auth.add_user(conn, "quanly", "mat-khau-rat-dai")
    auth.add_user(conn, "xem", "mat-khau-nguoi-xem", role="viewer")
    conn.close()
    col = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    for user, password, sees in (("xem", "mat-khau-nguoi-xem", False), ("quanly", "mat-khau-rat-dai", True)):
        col.goto(site.collector.url + "/login")
        col.fill("input[name=user]", user)
        col.fill("input[name=password]", password)
        col.click("button[type=submit]")
        col.wait_for_load_state()
        r = col.goto(site.collector.url + "/feedback")
        assert r is not None and (r.status == 200) is sees, (user, r.status)
        if sees:
            assert "quá nóng" in col.locator("#feedback-table").inner_text()
            assert "0912345678" in col.locator("#feedback-table").inner_text()
        col.context.clear_cookies()
    # a manager handles it: in progress with a note, then done; who and when are kept
    viewer = _collector_client(site, "xem", "mat-khau-nguoi-xem")
    fid = fb[-1]["id"]
    assert viewer.post(f"/feedback/{fid}/state", data={"state": "done", "csrf_token": viewer.cookies["motcua_csrf"]},
                       headers={"Accept": "text/html"}).status_code == 403
    viewer.close()
    _login(col, site, "quanly", "mat-khau-rat-dai")
    col.goto(site.collector.url + "/feedback")
    row = col.locator(f"#fb-{fid}")
    assert row.get_attribute("data-state") == "new" and "Mới" in row.locator(".fb-state").inner_text()
    row.locator("select[name=state]").select_option("in_progress")
    row.locator("input[name=note]").fill("Đã gọi lại <b>công dân</b>")
    row.locator("button[type=submit]").click()
    col.wait_for_load_state()
    row = col.locator(f"#fb-{fid}")
    assert row.get_attribute("data-state") == "in_progress"
    text = row.locator(".fb-state").inner_text()
    assert "Đang xử lý" in text and "quanly" in text and "+07:00" in text
    assert row.locator(".note").inner_text() == "Đã gọi lại <b>công dân</b>"  # escaped, as typed
    row.locator("select[name=state]").select_option("done")
    row.locator("button[type=submit]").click()
    col.wait_for_load_state()
    assert col.locator(f"#fb-{fid}").get_attribute("data-state") == "done"
    assert col.locator(f"#fb-{fid} details li").count() == 2  # the history: both changes
    assert col.evaluate("document.documentElement.scrollWidth") <= 390
    col.goto(site.collector.url + "/feedback?state=new")
    assert col.locator(f"#fb-{fid}").count() == 0
    col.goto(site.collector.url + "/feedback?state=done")
    assert col.locator(f"#fb-{fid}").count() == 1
    # a form without its CSRF token, a state that does not exist, an item that does not exist
    mgr = _collector_client(site, "quanly", "mat-khau-rat-dai")
    tok = mgr.cookies["motcua_csrf"]
    assert mgr.post(f"/feedback/{fid}/state", data={"state": "new"}).status_code == 403
    assert mgr.post(f"/feedback/{fid}/state", data={"state": "closed", "csrf_token": tok}).status_code == 400
    r = mgr.post("/feedback/0193a4c2-0000-7000-8000-000000000000/state", data={"state": "done", "csrf_token": tok},
                 headers={"Accept": "text/html"})
    assert r.status_code == 404 and "Không tìm thấy" in r.text
    mgr.close()
    db = sqlite3.connect(site.collector.db)
    try:
        assert [tuple(r) for r in db.execute("SELECT state, note, changed_by FROM feedback_history "
                                             "WHERE event_id=? ORDER BY changed_epoch", (fid,))] == \
            [("in_progress", "Đã gọi lại <b>công dân</b>", "quanly"), ("done", None, "quanly")]
    finally:
        db.close()
    col.context.close()
    # the public site page and its feed
    page.goto(site.url + "/")
    assert "Hộ tịch" in page.locator("#services").inner_text()
    feed = httpx.get(site.url + "/site.json").json()
    assert feed["ready"] and {s["code"] for s in feed["services"]} == {"HT", "DD", "XD"}
    head = httpx.get(site.url + "/")
    csp = head.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    ctx.close()


def _login(page: playwright.Page, site: Site, user: str, password: str) -> None:
    page.goto(site.collector.url + "/login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _collector_client(site: Site, user: str, password: str) -> httpx.Client:
    """The collector's dashboard as a logged-in browser would speak to it (cookies, CSRF, Origin)."""
    c = httpx.Client(base_url=site.collector.url, headers={"Origin": site.collector.url})
    c.get("/login")
    r = c.post("/login", data={"user": user, "password": password, "csrf_token": c.cookies["motcua_csrf"]})
    assert r.status_code == 303, r.text
    return c


def test_page_weight_is_under_60_kb(site: Site) -> None:
    tok = make_token(SECRET.encode(), SITE, site.portal.tracker.today(), "1001")
    total = 0
    for path in (f"/ve/{tok}", "/static/motcua.css", "/static/portal.css", "/static/ticket.js"):
        r = httpx.get(site.url + path)
        assert r.status_code == 200, path
        total += len(r.content)
    assert total <= 60 * 1024, total


def test_the_site_page_draws_the_busy_hours_the_collector_publishes(site: Site, browser: playwright.Browser,
                                                                     artifacts: Path) -> None:
    # the collector summarised its ticket history (seeded: this weekday of the last two weeks, 08:xx
    # three tickets waiting 10/20/30 min, 14:xx one; tomorrow's weekday 09:xx two) into state/busy-hours
    wait(lambda: site.portal.tracker.busy, what="the retained state/busy-hours from the collector")
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[datetime.now(VN).weekday()]
    feed = httpx.get(site.url + "/site.json").json()["busy_hours"]
    assert feed["weeks"] == 8
    days = {d["weekday"]: d["hours"] for d in feed["days"]}
    counted = [h for h in days[weekday] if h["arrivals"]]
    assert counted == [{"hour": 8, "arrivals": 3.0, "wait_min": 20.0}, {"hour": 14, "arrivals": 1.0, "wait_min": None}]
    assert [h["hour"] for h in days[weekday]] == list(range(8, 15))
    for width, height in ((360, 640), (390, 844)):
        ctx = browser.new_context(viewport={"width": width, "height": height})
        page = ctx.new_page()
        page.goto(site.url + "/")
        assert page.locator("#busy-title").inner_text() == "Giờ đông người"
        today = page.locator(f"#busy-{weekday}")
        assert today.get_attribute("open") is not None  # today's weekday comes first, open
        assert page.locator("#busy details").first.get_attribute("id") == f"busy-{weekday}"
        bars = today.locator("svg g")
        assert bars.count() == 7 and bars.nth(0).get_attribute("class") == "lv4"
        assert [bars.nth(i).get_attribute("class") for i in range(1, 6)] == ["lv0"] * 5
        assert "Đông nhất: 8h–9h" in today.locator(".busy-sum").inner_text()
        assert "20 phút" in today.locator(".busy-sum").inner_text()
        box = today.locator("svg").bounding_box()
        assert box is not None and box["width"] <= width and box["height"] >= 60  # big enough to read
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(artifacts / f"portal/site-busy-{width}.png"), full_page=True)
        ctx.close()
    en = httpx.get(site.url + "/?lang=en").text
    assert "Busy hours" in en and "Busiest" in en
    total = sum(len(httpx.get(site.url + p).content) for p in ("/", "/static/motcua.css", "/static/portal.css"))
    assert total <= 60 * 1024, total


def test_check_config_names_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "portal.toml"
    cfg.write_text(f'site = "camau-hcc"\nsecret = "{SECRET}"\nport = 99999\n', encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "portal", "--config", str(cfg), "--check-config"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and f"{cfg}:3" in bad.stderr and "port" in bad.stderr
    cfg.write_text(f'site = "camau-hcc"\nsecret = "{SECRET}"\n', encoding="utf-8")
    ok = subprocess.run([sys.executable, "-m", "portal", "--config", str(cfg), "--check-config"], cwd=ROOT,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def _form_client(site: Site) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=site.url, headers={"Origin": site.url})
    m = c.get("/phan-anh").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return c, m


def test_bad_input_gets_clear_vietnamese_errors_and_is_not_sent(site: Site) -> None:
    c, tok = _form_client(site)
    before = len(site.stored("feedback"))
    cases = [({"text": "x" * 2001, "consent": "yes"}, "quá dài"),
             ({"text": "ok", "phone": "12ab", "consent": "yes"}, "Số điện thoại không hợp lệ"),
             ({"text": "ok"}, "đồng ý"),
             ({"text": "ok", "ticket": "1/../2", "consent": "yes"}, "Số thứ tự không hợp lệ"),
             ({"text": "   ", "consent": "yes"}, "Hãy viết nội dung")]
    for form, words in cases:
        r = c.post("/phan-anh", data={**form, "csrf_token": tok}, headers={"Accept": "text/html"})
        assert r.status_code == 400 and words in r.text, (form, r.status_code)
    big = c.post("/phan-anh", data={"text": "x" * 40000, "consent": "yes", "csrf_token": tok})
    assert big.status_code == 413
    time.sleep(0.5)
    assert len(site.stored("feedback")) == before
    c.close()


def test_posts_past_the_rate_limit_get_429(site: Site) -> None:
    c, tok = _form_client(site)
    codes = [c.post("/phan-anh", data={"text": "", "csrf_token": tok}).status_code for _ in range(12)]
    first = codes.index(429)  # earlier tests of the module posted from this address as well
    assert set(codes[:first]) <= {400} and set(codes[first:]) == {429}, codes
    r = c.post("/phan-anh", data={"text": "", "csrf_token": tok}, headers={"Accept": "text/html"})
    assert r.status_code == 429 and "quá nhiều yêu cầu" in r.text and r.headers["retry-after"] == "60"
    c.close()


def test_python_m_portal_serves_and_stops_on_sigterm(module_broker, tmp_path: Path) -> None:
    import os
    import signal
    port = free_port()
    cfg = tmp_path / "portal.toml"
    (tmp_path / "secret").write_text(SECRET + "\n")
    cfg.write_text(f'site = "{SITE}"\ndevice = "portal-2"\nsecret_file = "{tmp_path / "secret"}"\nport = {port}\n'
                   f'state_dir = "{tmp_path / "state"}"\n[mqtt]\nurl = "{module_broker.url}"\n', encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NOTIFY_SOCKET", None)
    p = subprocess.Popen([sys.executable, "-m", "portal", "--config", str(cfg)], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait(lambda: _up(f"http://127.0.0.1:{port}") or time.sleep(0.4), what="python -m portal answering")
        assert httpx.get(f"http://127.0.0.1:{port}/site.json").json()["site"] == SITE
    finally:
        p.send_signal(signal.SIGTERM)
        out = p.communicate(timeout=20)[0].decode()
    assert p.returncode == 0, out
