"""The real kiosk window (offscreen SDL2), one subprocess per scenario, driven with UnitTestTouch.
Screenshots of every screen land in tests/artifacts/kiosk/."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mqtt import topics
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.schemas import Lease, Request, Response
from tests.kiosk.fake_printer import PAPER_OUT, FakePrinter, PtyPair
from tests.kiosk.helpers import service_state, site_state
from tests.support.mqtt import Recorder

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("ui_driver.py")


def run_ui(scenario: str, tmp_path: Path, artifacts: Path, broker: str | None = None,
           env_extra: dict[str, str] | None = None, shots_dir: Path | None = None) -> dict:
    """Run one scenario of ui_driver.py in a real Kivy window; screenshots go to ``shots_dir``
    (default tests/artifacts/kiosk; a parametrized test gives each case its own: the suite runs in parallel)."""
    out = tmp_path / f"{scenario}.json"
    shots_dir = shots_dir or artifacts / "kiosk"
    shots_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KIVY_NO_ARGS": "1", "KIVY_HOME": str(tmp_path / "kivy"),
           "KIVY_NO_CONSOLELOG": "1", "KIVY_WINDOW": "sdl2", "KIVY_NO_FILELOG": "1", **(env_extra or {})}
    cmd = [sys.executable, str(DRIVER), scenario, str(out), str(shots_dir), str(tmp_path / "state")]
    if broker:
        cmd.append(broker)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 and proc.stderr.strip() and "offscreen" not in env.get("SDL_VIDEODRIVER", ""):
        if "No matching visual" in proc.stderr or "Unable to create window" in proc.stderr:
            env["SDL_VIDEODRIVER"] = "offscreen"
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.exists(), f"driver wrote nothing (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    result = json.loads(out.read_text())
    assert "error" not in result, result["error"]
    assert result["logged_errors"] == [] or scenario == "error", result["logged_errors"]
    for shot in result["shots"]:
        assert Path(shot).stat().st_size > 5000, f"screenshot {shot} is empty"
    return result


def ticket_events(result: dict) -> list[dict]:
    return [e["data"] for e in result["events"] if e["type"] == "ticket"]


def test_whole_flow_priority_appointment_language_and_idle(tmp_path: Path, artifacts: Path) -> None:
    r = run_ui("flow", tmp_path, artifacts)
    assert "[b]Hộ tịch[/b]" in r["home_buttons"][0] and "Đang chờ: 4 người" in r["home_buttons"][0]
    assert "Đang chờ: 4 người  ·  ~20 phút" in r["home_buttons"][0]
    assert r["after_service"] == "options" and r["after_priority"] == "confirm"
    assert r["confirm"] == {"number": "1001", "service": "Hộ tịch",
                            "details": "Số người chờ trước bạn: 4\nThời gian chờ dự kiến: khoảng 20 phút",
                            "status": "Mời bạn nhận phiếu và chờ gọi số", "your": "Số của bạn:"}
    assert r["after_done"] == "home"
    assert r["elderly_confirm"] == {"number": "2001", "service": "Đất đai  ·  Người cao tuổi"}
    assert r["home_en_title"] == "Touch the service you need"
    assert r["after_appointment"] == "appointment" and r["code_shown"] == "20261"
    assert r["appointment_confirm"]["number"] == "3001" and r["appointment_confirm"]["screen"] == "confirm"
    assert r["appointment_confirm"]["status"].startswith("Please take your ticket")
    assert r["after_idle"] == "home" and r["lang_after_idle"] == "vi"
    events = ticket_events(r)
    assert [(e["ticket"], e["service"], e["priority"], e["appointment"], e["people_ahead"]) for e in events] == [
        ("1001", "HT", None, None, 4), ("2001", "DD", "elderly", None, 0), ("3001", "KD", "appointment", "20261", 12)]
    assert all(e["action"] == "issued" and e["kiosk"] == "kiosk-1" and e["day"] == "2026-11-23" for e in events)
    assert [x["screen"] for x in r["screens"]] == ["home", "options", "confirm", "confirm", "home", "appointment",
                                                  "confirm", "home"]


def test_offline_issues_from_the_lease_with_a_marker(tmp_path: Path, artifacts: Path) -> None:
    r = run_ui("offline", tmp_path, artifacts)
    assert r["offline_marker"] == "Ngoại tuyến"
    assert r["confirm"]["number"] == "1001" and "(cấp ngoại tuyến)" in r["confirm"]["details"]
    assert [(e["ticket"], e["offline"]) for e in ticket_events(r)] == [("1001", True)]


def test_closed_outside_hours(tmp_path: Path, artifacts: Path) -> None:
    r = run_ui("closed", tmp_path, artifacts)
    assert r["screens"][0]["screen"] == "closed"
    assert r["headline"] == "Ngoài giờ làm việc"
    assert r["detail"] == "Giờ làm việc hôm nay: 07:30–11:30, 13:30–17:00"
    assert r["headline_en"] == "Closed now"
    assert r["tickets"] == []


def test_closed_day(tmp_path: Path, artifacts: Path) -> None:
    r = run_ui("closed_day", tmp_path, artifacts)
    assert r["screens"][0]["screen"] == "closed" and r["detail"] == "Hôm nay không làm việc"


def test_numbers_finished_for_today(tmp_path: Path, artifacts: Path) -> None:
    r = run_ui("finished", tmp_path, artifacts)
    assert r["screens"][0]["screen"] == "finished" and r["headline"] == "Đã hết số thứ tự hôm nay"


def test_unexpected_error_is_reported_and_returns_home(tmp_path: Path, artifacts: Path) -> None:
    r = run_ui("error", tmp_path, artifacts)
    assert r["after_error"] == "home" and r["banner"] == "Có lỗi xảy ra, xin vui lòng thử lại"
    faults = [e["data"] for e in r["events"] if e["type"] == "fault"]
    assert [(f["code"], f["active"]) for f in faults] == [("kiosk_error", True), ("kiosk_error", False)]
    assert "simulated bug in issuing" in faults[0]["detail"]
    assert any("simulated bug" in e for e in r["logged_errors"])


def test_paper_out_on_a_pty_printer_shows_message_and_raises_fault(tmp_path: Path, artifacts: Path) -> None:
    pair = PtyPair()
    fake = FakePrinter(pair.printer_end, PAPER_OUT)
    try:
        r = run_ui("paper_out", tmp_path, artifacts, env_extra={"KIOSK_PRINTER_PORT": pair.kiosk_end})
    finally:
        fake.close()
        pair.close()
    assert r["confirm"]["screen"] == "confirm" and r["confirm"]["number"] == "1001"
    assert r["confirm"]["status"].startswith("Máy in hết giấy: phiếu chưa in được. Số 1001 chỉ được gọi khi đã in")
    assert r["confirm"]["reprint"] == "In lại phiếu"
    assert r["banner"] == "Máy in đang gặp sự cố: tạm thời chưa in được phiếu"
    faults = [e["data"] for e in r["events"] if e["type"] == "fault"]
    assert [(f["code"], f["active"]) for f in faults] == [("printer_paper_out", True)]
    # the citizen left without a ticket: the number is reported as never printed
    assert [(e["ticket"], e["print_failed"]) for e in ticket_events(r)] == [("1001", True)]
    assert 4 in fake.queries  # the kiosk asked the paper sensor


def test_issuing_through_a_real_broker(tmp_path: Path, artifacts: Path, broker) -> None:
    """A tiny ticketing stand-in answers "lease" and "number" over MQTT 5 and publishes retained state."""
    granted: list[Request] = []
    given: list[int] = []
    nxt = {"HT": 1001}

    def on_number(req: Request, _msg) -> Response:  # noqa: ANN001
        given.append(nxt[req.service])
        nxt[req.service] += 1
        return Response(request_id=req.id, ok=True,
                        lease=Lease(service=req.service, day="2026-11-23", start=given[-1], end=given[-1]))

    def on_lease(req: Request, _msg) -> Response:  # noqa: ANN001
        granted.append(req)
        start = nxt[req.service]
        nxt[req.service] = start + req.count
        return Response(request_id=req.id, ok=True,
                        lease=Lease(service=req.service, day="2026-11-23", start=start, end=start + req.count - 1))

    tk = DeviceClient("camau-hcc", "ticketing", "ticketing", BrokerConfig(url=broker.url))
    tk.serve("lease", on_lease)
    tk.serve("number", on_number)
    tk.start()
    rec = Recorder(broker.port, topics.events_filter("camau-hcc"))
    try:
        assert tk.wait_connected(10)
        time.sleep(0.2)
        site = site_state()
        site.services = site.services[:1]
        tk.publish(topics.state("camau-hcc", "site"), site, retain=True).wait_for_publish(5)
        tk.publish(topics.state("camau-hcc", "service", "HT"), service_state("HT", 6, 1800.0),
                   retain=True).wait_for_publish(5)
        r = run_ui("broker", tmp_path, artifacts, broker=broker.url)
        assert given and r["confirm"]["number"] == str(given[0])  # online: the number ticketing gave at the tap
        assert "Số người chờ trước bạn: 6" in r["confirm"]["details"]
        assert granted and granted[0].service == "HT" and granted[0].device == "kiosk-1"
        assert rec.wait_for(lambda ms: any(t.endswith("/evt/ticket") for t, _, _ in ms), 10)
        [ev] = rec.json("/evt/ticket")
        assert ev["device"] == "kiosk-1" and ev["data"]["ticket"] == str(given[0]) and ev["data"]["people_ahead"] == 6
        assert ev["data"]["offline"] is False
    finally:
        rec.close()
        tk.stop()


@pytest.mark.parametrize("n,window", [(5, "1024x600"), (12, "1024x600"), (12, "1280x800"), (30, "1024x600"),
                                      (30, "1280x800")])
def test_many_services_page_without_cut_text(tmp_path: Path, artifacts: Path, n: int, window: str) -> None:
    r = run_ui("many", tmp_path, artifacts, env_extra={"KIOSK_SERVICES": str(n), "KIOSK_WINDOW": window},
               shots_dir=artifacts / "kiosk" / f"many-{n}-{window}")  # one screenshot set per size and count
    pages = r["pages"]
    shown = [c for p in pages for c in p["codes"]]
    assert sorted(shown) == [f"S{i:02d}" for i in range(n)] and len(shown) == n  # every service, once
    for p in pages:
        assert p["overflow"] == [] and p["inside"], p  # no text cut or spilling, no button off the grid
        w, h = p["min_button"]
        assert h >= 80 and w >= 280, p  # large targets (>= 80 px tall at the kiosk's density)
        assert p["font_px"] >= 24
    assert (len(pages) > 1) == (n > len(pages[0]["codes"]))
    if len(pages) > 1:
        assert pages[0]["label"] == f"Trang 1/{len(pages)}"
    if n == 30:  # grouped by field: "Tất cả" and the five fields; a field's page shows only it
        assert r["groups"][:2] == ["Tất cả", "Tư pháp – Hộ tịch"] and len(r["groups"]) == 6
        assert r["group_codes"] == [f"S{i:02d}" for i in range(1, 30, 5)][:len(r["group_codes"])]
        assert r["after_group_tap"] == "options"
    else:
        assert r["groups"] == []


def test_lunch_break_banner_and_issuing_with_the_reopening(tmp_path: Path, artifacts: Path) -> None:
    r = run_ui("lunch", tmp_path, artifacts)
    assert r["screen"] == "home"  # 12:10, between the spans: still issuing (state/hours says break)
    assert r["hours_banner"] == "Nghỉ trưa – làm việc lại lúc 13:30 / Lunch break – back at 13:30"
    assert "Đang chờ: 4 người  ·  ~20 phút kể từ 13:30" in r["home_buttons"][0]
    assert r["after_priority"] == "confirm"
    assert r["details"] == ("Số người chờ trước bạn: 4\n"
                            "Thời gian chờ dự kiến: khoảng 20 phút, tính từ 13:30 (không tính giờ nghỉ)")
    assert [e["ticket"] for e in ticket_events(r)] == ["1001"]


def test_closed_after_hours_refuses_with_the_next_opening(tmp_path: Path, artifacts: Path) -> None:
    r = run_ui("after_hours", tmp_path, artifacts)
    assert r["screen"] == "closed" and r["tickets"] == []
    assert r["hours_banner"].startswith("Đã hết giờ làm việc – mở cửa lại lúc 07:30")
    assert (r["headline"], r["detail"]) == ("Đã hết giờ làm việc", "Mở cửa lại lúc 07:30 thứ Ba 24/11")
    assert (r["headline_en"], r["detail_en"]) == ("Closed for today", "Opens again at 07:30 on Tuesday 24/11")
