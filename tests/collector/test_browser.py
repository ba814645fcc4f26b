"""The dashboard in real headless Chromium: log in, see the grid, watch it change without reload."""
from __future__ import annotations

import json
import re
import time

import pytest

from collector import auth
from collector.db import open_db
from mqtt import topics
from tests.collector.wire import SITE, CollectorProcess, now_iso, presence, rating

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def site_state() -> bytes:
    svc = [{"code": c, "name_vi": vi, "name_en": en, "prefix": "", "range_start": 1000 * (i + 1),
            "range_end": 1000 * (i + 1) + 999, "capacity": 200, "target_wait_min": 15}
           for i, (c, vi, en) in enumerate((("HT", "Hộ tịch", "Civil status"), ("DD", "Đất đai", "Land")))]
    desks = [{"number": n, "services": ["HT", "DD"], "name_vi": f"Quầy {n}", "name_en": f"Desk {n}"}
             for n in range(1, 5)]
    return json.dumps({"v": 1, "site": SITE, "name_vi": "Trung tâm PVHCC Cà Mau", "name_en": "Ca Mau centre",
                       "timezone": "Asia/Ho_Chi_Minh", "services": svc, "desks": desks,
                       "hours": {"mon": [["07:30", "11:30"]]}, "priority_classes": ["elderly"],
                       "rating_scale": 5}).encode()


def seed(pub) -> None:
    pub.send(topics.state(SITE, "site"), site_state(), retain=True)
    pub.send(topics.state(SITE, "desk", 1), json.dumps(
        {"v": 1, "desk": 1, "officer": "nv-0142", "ticket": "1023", "number": 1023, "day": now_iso()[:10],
         "service": "HT", "status": "serving", "called_at": now_iso(-120)}).encode(), retain=True)
    pub.send(topics.state(SITE, "service", "HT"), json.dumps(
        {"v": 1, "service": "HT", "day": now_iso()[:10], "waiting": 7, "issued": 30, "capacity": 200,
         "oldest_issued_at": now_iso(-900)}).encode(), retain=True)
    pub.send(topics.status(SITE, "rt-01"), json.dumps(
        {"v": 1, "state": "online", "device": "rt-01", "role": "rating-terminal", "version": "0.1.0",
         "desk": 1}).encode(), retain=True)
    pub.send(topics.status(SITE, "rt-02"), json.dumps(
        {"v": 1, "state": "offline", "device": "rt-02", "role": "rating-terminal", "version": "0.1.0",
         "desk": 2}).encode(), retain=True)
    pub.send(topics.device_state(SITE, "cam-01", "presence", 2), json.dumps(
        {"v": 1, "desk": 2, "officer": True, "officer_since": now_iso(-3600), "citizen": True,
         "citizen_since": now_iso(-300), "ts": now_iso(-300)}).encode(), retain=True)
    pub.send_many([rating(desk=1, score=5, seq=s) for s in (1, 2)])


@pytest.fixture
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def render_after(page, t0_ms: float, pred_js: str, timeout: float = 15.0) -> float:
    """ms from t0 to the first render satisfying pred_js (a function of the render record)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        hit = page.evaluate(f"(t0) => {{ const r = window.motcuaRenders.find(x => x.t >= t0 && ({pred_js})(x));"
                            f" return r ? r.t : null; }}", t0_ms)
        if hit is not None:
            return hit - t0_ms
        time.sleep(0.02)
    raise AssertionError(f"no render satisfying {pred_js} within {timeout}s")


def test_dashboard_login_grid_and_live_updates(collector, publisher, browser, artifacts):
    conn = open_db(collector.db)
    auth.add_user(conn, "quanly", "mat-khau-rat-dai")
    conn.close()
    seed(publisher)
    assert collector.wait_stored("ratings", 2) == 2
    shots = artifacts / "collector"
    shots.mkdir(parents=True, exist_ok=True)

    anon = browser.new_page()
    anon.goto(collector.url + "/")
    assert anon.url.endswith("/login") and anon.locator("#password").count() == 1
    anon.goto(collector.url + "/api/desks")
    assert "unauthorized" in anon.content()
    anon.close()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(collector.url + "/login")
    page.fill("#user", "quanly")
    page.fill("#password", "mat-khau-rat-dai")
    page.click("#login")
    page.wait_for_selector("#desks .desk")
    page.wait_for_selector("#live.on")
    assert page.locator("#desks .desk").count() == 4
    d1, d2 = page.locator('.desk[data-desk="1"]'), page.locator('.desk[data-desk="2"]')
    assert "Quầy 1" in d1.inner_text() and "1023" in d1.inner_text() and "Đang phục vụ" in d1.inner_text()
    assert "Trực tuyến" in d1.inner_text() and "Mất kết nối" in d2.inner_text()
    assert d2.locator(".officer").get_attribute("data-present") == "true"
    assert d1.locator(".ratings-count").inner_text() == "2"
    assert page.locator('#queue tr[data-service="HT"] .waiting').inner_text() == "7"
    assert "Hộ tịch" in page.locator("#queue").inner_text()
    page.screenshot(path=str(shots / "dashboard_vi.png"), full_page=True)
    page.evaluate("window.__noReload = 'still here'")

    # the officer of desk 2 leaves: a presence change over MQTT
    t0 = page.evaluate("Date.now()")
    publisher.send(*presence(2, "officer", False, device="cam-01", seq=10))
    page.wait_for_selector('.desk[data-desk="2"] .officer[data-present="false"]', timeout=15000)
    presence_ms = render_after(page, t0, "() => document.querySelector('.desk[data-desk=\"2\"] .officer')"
                                         ".dataset.present === 'false'")
    assert "Vắng" in page.locator('.desk[data-desk="2"] .officer').inner_text()

    # a citizen rates desk 2
    t1 = page.evaluate("Date.now()")
    publisher.send(*rating(desk=2, score=4, seq=3))
    page.wait_for_function("() => document.querySelector('.desk[data-desk=\"2\"] .ratings-count').textContent === '1'",
                           timeout=15000)
    rating_ms = render_after(page, t1, "(r) => r.ratings_today === 3")
    assert page.locator("#ratings-total").inner_text() == "3"
    assert page.evaluate("window.__noReload") == "still here"  # the same page: no reload
    # render_after fails when no render came; the latency itself is bench/collector.py's (a shared
    # machine makes a bound here flaky)
    print(f"presence {presence_ms:.0f} ms, rating {rating_ms:.0f} ms")
    page.screenshot(path=str(shots / "dashboard_after_events.png"), full_page=True)

    page.goto(collector.url + "/?lang=en")
    page.wait_for_selector("#desks .desk")
    text = page.inner_text("body")
    assert "Device health" in text and "Away" in text and "Serving" in text
    page.screenshot(path=str(shots / "dashboard_en.png"), full_page=True)


def telemetry(device: str, synced: bool, cpu: float | None = None, **extra: float) -> tuple[str, bytes]:
    return topics.telemetry(SITE, device), json.dumps(
        {"v": 1, "ts": now_iso(), "uptime_s": 3600.0, "cpu_temp_c": cpu, "outbox_depth": 0,
         "clock_synced": synced, "extra": extra}).encode()


def log_in(browser, url: str, lang: str = "vi"):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/login?lang={lang}")
    page.fill("#user", "quanly")
    page.fill("#password", "mat-khau-rat-dai")
    page.click("#login")
    page.wait_for_selector("#live.on")
    return page


def test_device_health_shows_clock_state_temperature_and_fps_live(collector, publisher, browser, artifacts):
    conn = open_db(collector.db)
    auth.add_user(conn, "quanly", "mat-khau-rat-dai")
    conn.close()
    for dev, role in (("cam-01", "camera-agent"), ("rt-01", "rating-terminal")):
        publisher.send(topics.status(SITE, dev), json.dumps(
            {"v": 1, "state": "online", "device": dev, "role": role, "version": "0.1.0"}).encode(), retain=True)
    publisher.send(*telemetry("cam-01", True, cpu=51.23, fps=4.8, ms_per_frame=120.0))
    publisher.send(*telemetry("rt-01", True))
    shots = artifacts / "collector"
    shots.mkdir(parents=True, exist_ok=True)

    page = log_in(browser, collector.url, "vi")
    cam, rt = page.locator('#devices tr[data-device="cam-01"]'), page.locator('#devices tr[data-device="rt-01"]')
    page.wait_for_selector('#devices tr[data-device="cam-01"] .fps')
    assert cam.locator(".temp").inner_text() == "51.2 °C" and cam.locator(".fps").inner_text() == "4.8 fps"
    assert rt.locator(".telemetry").inner_text() == ""  # no temperature, no fps: nothing shown
    assert cam.locator(".clock-unsynced").count() == 0 and rt.locator(".clock-unsynced").count() == 0
    page.evaluate("window.__noReload = 'still here'")

    # the camera's Pi lost NTP: its telemetry says so, the badge appears without reload
    publisher.send(*telemetry("cam-01", False, cpu=82.0, fps=2.5))
    page.wait_for_selector('#devices tr[data-device="cam-01"] .clock-unsynced', timeout=15000)
    badge = cam.locator(".clock-unsynced")
    assert "Giờ chưa đồng bộ" in badge.inner_text() and "đồng hồ thời gian thực" in badge.get_attribute("title")
    assert cam.locator(".fps").inner_text() == "2.5 fps" and "hot" in cam.locator(".temp").get_attribute("class")
    assert rt.locator(".clock-unsynced").count() == 0
    assert page.evaluate("window.__noReload") == "still here"
    page.screenshot(path=str(shots / "devices_clock_unsynced_vi.png"), full_page=True)
    api = page.evaluate("fetch('/api/devices').then(r => r.json())")
    by_dev = {d["device"]: d for d in api["items"]}
    assert by_dev["cam-01"]["clock_synced"] is False and by_dev["cam-01"]["cpu_temp_c"] == 82.0
    assert by_dev["cam-01"]["extra"]["fps"] == 2.5 and by_dev["rt-01"]["cpu_temp_c"] is None

    # in English: the rating terminal loses its clock, the camera gets it back, both live
    page.goto(collector.url + "/?lang=en")
    page.wait_for_selector("#live.on")
    assert "Clock not synced" in cam.locator(".clock-unsynced").inner_text()
    page.evaluate("window.__noReload = 'still here'")
    publisher.send(*telemetry("rt-01", False, cpu=47.0))
    publisher.send(*telemetry("cam-01", True, cpu=60.0, fps=5.0))
    page.wait_for_selector('#devices tr[data-device="rt-01"] .clock-unsynced', timeout=15000)
    page.wait_for_selector('#devices tr[data-device="cam-01"] .clock-unsynced', state="detached", timeout=15000)
    assert "Clock not synced" in rt.locator(".clock-unsynced").inner_text()
    assert "not NTP-synced" in rt.locator(".clock-unsynced").get_attribute("title")
    assert rt.locator(".temp").inner_text() == "47.0 °C" and rt.locator(".fps").count() == 0
    assert page.evaluate("window.__noReload") == "still here"
    page.screenshot(path=str(shots / "devices_clock_unsynced_en.png"), full_page=True)


def no_horizontal_scroll(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def test_pages_fit_a_phone_and_print_on_a4(broker, tmp_path, browser, artifacts):
    """390 px wide (an iPhone 12-15): no page scrolls sideways; wide tables scroll in their own box."""
    from tests.reports.fixture import load_ingest
    db = tmp_path / "collector.db"
    load_ingest(db)
    conn = open_db(db)
    auth.add_user(conn, "quanly", "mat-khau-rat-dai")
    conn.close()
    col = CollectorProcess(broker.url, db).start()
    shots = artifacts / "collector"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                has_touch=True)
        page.goto(col.url + "/login")
        assert no_horizontal_scroll(page)[0] <= 390
        page.fill("#user", "quanly")
        page.fill("#password", "mat-khau-rat-dai")
        page.click("#login")
        page.wait_for_selector("#desks .desk")
        page.wait_for_selector("#devices tr[data-device]")
        width, inner = no_horizontal_scroll(page)
        assert inner == 390 and width <= inner, (width, inner)
        page.screenshot(path=str(shots / "phone_dashboard.png"), full_page=True)
        for path, shot in (("/reports?period=day&date=2026-11-23&by=service", "phone_reports.png"),
                           ("/reports?period=day&date=2026-11-23&by=officer&lang=en", "phone_reports_en.png"),
                           ("/devices", "phone_devices.png"), ("/dead-letters", "phone_dead_letters.png")):
            page.goto(col.url + path)
            width, inner = no_horizontal_scroll(page)
            assert inner == 390 and width <= 390, (path, width, inner)  # a phone zooms out a page too wide
            page.screenshot(path=str(shots / shot), full_page=True)
        page.goto(col.url + "/reports?period=day&date=2026-11-23&by=service")
        box = page.evaluate("(() => { const w = document.querySelector('#report-table .table-wrap');"
                            " return [w.scrollWidth, w.clientWidth, getComputedStyle(w).overflowX]; })()")
        assert box[0] > box[1] and box[2] == "auto", box  # the wide table scrolls inside its own box
        assert page.locator("#chart-arrivals svg").bounding_box()["width"] <= 390
        page.emulate_media(media="print")
        assert page.locator("header.top nav").is_hidden() and page.locator("form.query").is_hidden()
        pdf = tmp_path / "report.pdf"
        page.pdf(path=str(pdf), format="A4", prefer_css_page_size=True)
        boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf.read_bytes())
        assert boxes and all(round(float(w)) == 595 and round(float(h)) == 842 for w, h in boxes), boxes  # A4
    finally:
        col.stop()


ATTACKER = """<!doctype html><html><body>
<form id="logout" method="post" action="{url}/logout"><button id="go-logout">Win a prize</button></form>
<form id="login" method="post" action="{url}/login">
<input name="user" value="ke-gian"><input name="password" value="mat-khau-ke-gian">
<button id="go-login">Log in</button></form></body></html>"""


def test_cross_site_forms_are_refused_and_old_cookies_die(collector, publisher, browser, artifacts):
    """Another site's forms (logout, login) are refused in Chromium; after logout the old cookie is
    refused and an open live view on another tab leaves for the login form."""
    import http.server
    import threading

    conn = open_db(collector.db)
    auth.add_user(conn, "quanly", "mat-khau-rat-dai")
    auth.add_user(conn, "ke-gian", "mat-khau-ke-gian")
    conn.close()
    html = ATTACKER.format(url=collector.url).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *a):
            pass

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    evil_url = f"http://localhost:{evil.server_address[1]}/"  # another site than 127.0.0.1
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.goto(collector.url + "/login")
        page.fill("#user", "quanly")
        page.fill("#password", "mat-khau-rat-dai")
        page.click("#login")
        page.wait_for_selector("#live.on")
        old = [c for c in ctx.cookies() if c["name"] == "motcua_session"]
        assert old and old[0]["httpOnly"]

        attack = ctx.new_page()
        attack.goto(evil_url)
        with attack.expect_navigation():
            attack.click("#go-logout")
        assert "trang khác" in attack.content()  # 403: the form came from another site
        attack.goto(evil_url)
        with attack.expect_navigation():
            attack.click("#go-login")
        assert "trang khác" in attack.content()
        assert [c["value"] for c in ctx.cookies() if c["name"] == "motcua_session"] == [old[0]["value"]]
        page.goto(collector.url + "/")
        page.wait_for_selector("#live.on")  # still logged in as the manager, not as the attacker
        assert "quanly" in page.inner_text("header")

        watcher = ctx.new_page()
        watcher.goto(collector.url + "/")
        watcher.wait_for_selector("#live.on")
        page.click("#logout")
        page.wait_for_url("**/login")
        publisher.send(*rating(desk=1, score=5, seq=1))  # the next live snapshot: the stream sees the logout
        watcher.wait_for_url("**/login", timeout=10000)
        ctx.close()

        thief = browser.new_context()
        thief.add_cookies(old)
        p = thief.new_page()
        p.goto(collector.url + "/")
        assert p.url.endswith("/login") and p.locator("#password").count() == 1
        thief.close()
    finally:
        evil.shutdown()
