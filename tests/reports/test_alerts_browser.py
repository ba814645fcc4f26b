"""The alerting dashboard in real headless Chromium: a real collector fed by a real broker colours desk 1
red (officer away while its services have people waiting) and desk 2 amber, lists the open alerts with
since-when, sounds when a new one appears, and a manager acknowledges one; screenshots in artifacts."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from collector import auth
from collector.db import open_db
from mqtt import topics
from tests.collector.wire import SITE, CollectorProcess, Publisher, envelope, now_iso

from .fixture import SITE_STATE

playwright = pytest.importorskip("playwright.sync_api")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--autoplay-policy=no-user-gesture-required"]
ALL_DAY = {d: [["00:00", "23:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def seed(pub: Publisher) -> None:
    site = json.loads(SITE_STATE.model_dump_json()) | {"hours": ALL_DAY, "closed_days": []}
    pub.send(topics.state(SITE, "site"), json.dumps(site), retain=True)
    for sv, n, oldest in (("HT", 4, -600), ("GT", 2, -300)):  # HT waits 10 min (amber: target 15)
        pub.send(topics.state(SITE, "service", sv), json.dumps(
            {"v": 1, "service": sv, "day": now_iso()[:10], "waiting": n, "issued": 20, "capacity": 300,
             "oldest_issued_at": now_iso(oldest)}), retain=True)
    seq = {"dt-01": 0, "cam-01": 0}
    for desk, officer, away_s in ((1, "nv-01", 1500), (3, "nv-03", 400)):
        for dev, type_, data, ts in (
                ("dt-01", "desk", {"desk": desk, "action": "sign_in", "officer": officer}, now_iso(-7200)),
                ("cam-01", "presence", {"desk": desk, "zone": "officer", "kind": "change", "present": False,
                                        "since": now_iso(-away_s)}, now_iso(-away_s))):
            seq[dev] += 1
            pub.send(topics.event(SITE, dev, type_), json.dumps(envelope(type_, data, device=dev, seq=seq[dev], ts=ts)))


def test_alerting_dashboard(broker, tmp_path: Path, artifacts):
    db = tmp_path / "collector.db"
    cfg = tmp_path / "collector.toml"
    cfg.write_text('alert_interval_s = 0.5\n[alerts]\nofficer_away_min = 10\n'
                   '[[officers]]\nid = "nv-01"\nname = "Nguyễn Thị Lan"\ndepartment = "Phòng Tư pháp"\n',
                   encoding="utf-8")
    conn = open_db(db)
    auth.add_user(conn, "quanly", "mat-khau-rat-dai")
    conn.close()
    col = CollectorProcess(broker.url, db, extra=["--config", str(cfg)]).start()
    pub = Publisher(broker.port)
    shots = artifacts / "reports"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        seed(pub)
        with playwright.sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            page = b.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(col.url + "/login")
            page.fill("#user", "quanly")
            page.fill("#password", "mat-khau-rat-dai")
            page.click("#login")
            page.wait_for_selector('.desk[data-desk="1"].alert-red', timeout=20000)
            page.wait_for_selector('.desk[data-desk="3"].alert-amber', timeout=20000)
            d1 = page.locator('.desk[data-desk="1"]')
            assert "Quầy 1 vắng cán bộ (Nguyễn Thị Lan (nv-01))" in d1.inner_text()
            assert "Lĩnh vực: HT" in d1.inner_text() and "Nguyễn Thị Lan (nv-01)" in d1.locator(".officer").inner_text()
            # desk 2 serves HT too: HT's wait (10 of 15 min) colours it amber; desk 3 (GT only) amber for its officer
            assert page.locator('.desk[data-desk="2"]').get_attribute("data-level") == "amber"
            item = page.locator('#alerts li[data-kind="officer_away"]')
            assert "từ" in item.inner_text() and item.locator(".since").inner_text().endswith(" giây")  # raised seconds ago
            assert " phút " in d1.locator(".officer .since").inner_text()  # 4 phút 38 giây, not 4m38s
            page.screenshot(path=str(shots / "alerts_dashboard_vi.png"), full_page=True)

            # a new alert (printer out of paper) sounds
            pub.send(topics.event(SITE, "kiosk-01", "fault"), json.dumps(envelope(
                "fault", {"code": "printer_paper_out", "active": True, "message_vi": "Máy in hết giấy",
                          "message_en": "Printer out of paper"}, device="kiosk-01", seq=1)))
            page.wait_for_selector('#alerts li[data-kind="device_fault"]', timeout=20000)
            page.wait_for_function("window.motcuaBeeps >= 1", timeout=10000)
            first = page.locator("#devices tr[data-device]").first  # a device with an open fault comes first
            page.wait_for_function("document.querySelector('#devices tr[data-device]').dataset.device === 'kiosk-01'")
            assert "Máy in hết giấy (từ " in first.locator(".faults").inner_text()

            item.locator("button.ack").click()
            page.wait_for_selector('#alerts li[data-kind="officer_away"] .acked-by', timeout=10000)
            assert "Đã biết bởi quanly" in page.locator('#alerts li[data-kind="officer_away"]').inner_text()
            with sqlite3.connect(db) as c:
                assert c.execute("SELECT acked_by FROM alerts WHERE kind='officer_away'").fetchone()[0] == "quanly"
            page.goto(col.url + "/?lang=en")
            page.wait_for_selector('.desk[data-desk="1"].alert-red')
            assert "Desk 1 unattended" in page.locator("#alerts").inner_text()
            page.screenshot(path=str(shots / "alerts_dashboard_en.png"), full_page=True)
            page.goto(col.url + "/reports?period=day&by=officer&lang=vi")
            assert "Nguyễn Thị Lan (nv-01)" in page.locator("table").first.inner_text()  # names from the directory
            page.goto(col.url + "/reports?period=month&lang=vi")
            assert page.locator("#evaluations-pdf").count() == 1
            with page.expect_download() as dl:
                page.click("#evaluations-xlsx")
            assert dl.value.suggested_filename.startswith("phieu-danh-gia-")
            b.close()
    finally:
        pub.close()
        col.stop()
    time.sleep(0.1)
    assert "Traceback" not in db.with_suffix(".log").read_text()
