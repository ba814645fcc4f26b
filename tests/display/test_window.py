"""The real Kivy window, headless, at 1920x1080 and 1280x720, fed ONLY by retained state.

The retained messages are published (by a Recorder) before the display starts, so what the
window shows proves "works from retained state alone". Each size runs in its own subprocess
(one Kivy Window per process); screenshots go to tests/artifacts/display/.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.clock import SystemClock, local_day
from mqtt import topics
from mqtt.schemas import CallsState
from tests.conftest import ROOT
from tests.display.payloads import CALLS, MANY, calls_state, service_states, site_state
from tests.support.mqtt import Recorder

DRIVER = Path(__file__).with_name("window_driver.py")


def publish_retained(port: int, site: str, newest: datetime, n: int | None = None, recall: bool = False) -> None:
    rec = Recorder(port, topics.status_filter(site))
    try:
        rec.publish(topics.state(site, "site"), site_state(site, n), retain=True)
        for code, payload in service_states(local_day(newest).isoformat(), n).items():
            rec.publish(topics.state(site, "service", code), payload, retain=True)
        payload = calls_state(newest, CALLS)
        if recall:  # 1022 called, then called again (a recall), then 1023
            cs = CallsState.model_validate_json(calls_state(newest, [CALLS[0], CALLS[1], *CALLS[1:]]))
            cs.calls[1].recall = True
            payload = cs.dumps()
        rec.publish(topics.state(site, "calls"), payload, retain=True)
    finally:
        rec.close()


def run_display(tmp_path: Path, broker_url: str, site: str, size: tuple[int, int], shot: Path,
                *extra: str, expect: str = "1023") -> dict:
    cfg = tmp_path / "display.toml"
    cfg.write_text(f"""
site = "{site}"
device = "display-test"
[mqtt]
url = "{broker_url}"
[screen]
size = [{size[0]}, {size[1]}]
fullscreen = false
recent = 4
page_s = 120
[voice]
player = []
cache_dir = "{tmp_path / 'clips'}"
repeat = 1
""", encoding="utf-8")
    result = tmp_path / "result.json"
    (tmp_path / "kivy").mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), KIVY_NO_ARGS="1", KIVY_HOME=str(tmp_path / "kivy"),
               KIVY_NO_CONSOLELOG="1", KIVY_WINDOW="sdl2", KIVY_NO_FILELOG="1")
    if not env.get("DISPLAY"):
        env.setdefault("SDL_VIDEODRIVER", "offscreen")
    proc = subprocess.run([sys.executable, str(DRIVER), "--config", str(cfg), "--expect", expect,
                           "--shot", str(shot), "--result", str(result), "--timeout", "40", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert result.exists(), f"driver wrote no result (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    data = json.loads(result.read_text(encoding="utf-8"))
    assert data["ok"], f"the display never showed ticket {expect}: {data}\n{proc.stderr[-3000:]}"
    return data


def check_screen(data: dict, shot: Path, size: tuple[int, int]) -> None:
    labels = data["labels"]
    assert labels["now_ticket"] == "1023"
    assert labels["now_desk"] == "Quầy / Desk  5"
    assert labels["now_title"] == "Mời số / Now serving"
    assert labels["now_service"] == "Hộ tịch / Civil status"
    assert labels["recent"] == [["1022", "3"], ["1021", "1"], ["1020", "2"], ["1019", "5"]]
    assert labels["waiting"] == [["Hộ tịch", "12"], ["Đất đai", "3"], ["Đăng ký kinh doanh", "0"]]
    assert labels["site_vi"] == "Trung tâm Phục vụ Hành chính công tỉnh Cà Mau"
    assert labels["recent_title"] == "Số vừa gọi / Recent calls"
    assert labels["waiting_title"] == "Đang chờ / Waiting"
    assert len(labels["time"]) == 8 and labels["date"].count("/") == 2
    assert data["window_size"] == list(size)
    img = Image.open(shot).convert("RGB")
    assert img.size == size
    px = np.asarray(img).reshape(-1, 3).astype(int)
    amber = (px[:, 0] > 200) & (px[:, 1] > 150) & (px[:, 1] < 230) & (px[:, 2] < 100)
    white = (px > 230).all(axis=1)
    # the huge amber ticket number and white text are really drawn (not a black frame)
    assert amber.mean() > 0.01, f"too little amber ({amber.mean():.4f}): is the ticket drawn?"
    assert white.mean() > 0.002, f"too little white text ({white.mean():.4f})"


def test_full_hd_shows_retained_call_and_announces_it(tmp_path: Path, module_broker, artifacts: Path) -> None:
    size = (1920, 1080)
    publish_retained(module_broker.port, "hall-fhd", SystemClock().now() - timedelta(seconds=2))
    shot = artifacts / "display" / "hall-1920x1080.png"
    shot.unlink(missing_ok=True)
    data = run_display(tmp_path, module_broker.url, "hall-fhd", size, shot)
    check_screen(data, shot, size)
    # a fresh call in retained state (made while the display was starting) is announced, once
    assert data["announced"] == [["1023", 5]]
    assert len(data["rendered"]) == 1
    with wave.open(data["rendered"][0], "rb") as w:
        assert w.getnframes() / w.getframerate() > 1.0


def test_hd_ready_restart_shows_old_call_without_announcing(tmp_path: Path, module_broker,
                                                            artifacts: Path) -> None:
    size = (1280, 720)
    publish_retained(module_broker.port, "hall-hd", SystemClock().now() - timedelta(minutes=5))
    shot = artifacts / "display" / "hall-1280x720.png"
    shot.unlink(missing_ok=True)
    data = run_display(tmp_path, module_broker.url, "hall-hd", size, shot, "--live", "1024:7")
    check_screen(data, shot, size)
    # a restarted display shows the present at once but does not re-announce a 5-minute-old call;
    # the next live call (published after the screenshot) is shown and announced
    assert data["announced"] == [["1024", 7]] and len(data["rendered"]) == 1
    live = data["live_labels"]
    assert (live["now_ticket"], live["now_desk"]) == ("1024", "Quầy / Desk  7")
    assert live["recent"][0] == ["1023", "5"]
    assert data["live_shown_after_ms"] < 5000  # MQTT thread -> Clock.schedule_once -> screen


@pytest.mark.parametrize("n", [5, 12, 30])
def test_many_services_page_and_stay_readable_at_5_m(tmp_path: Path, module_broker, artifacts: Path, n: int) -> None:
    """1080p: waiting cards in pages of 4, every text at least 40 px and none cut; a recall is marked."""
    site = f"hall-many-{n}"
    publish_retained(module_broker.port, site, SystemClock().now() - timedelta(minutes=5), n=n, recall=True)
    shot = artifacts / "display" / f"hall-1920x1080-{n}-services.png"
    shot.unlink(missing_ok=True)
    data = run_display(tmp_path, module_broker.url, site, (1920, 1080), shot, "--pages")
    labels = data["labels"]
    assert labels["now_ticket"] == "1023" and labels["now_title"] == "Mời số / Now serving"
    assert labels["recent"][:2] == [["1022", "3"], ["1022", "3"]]
    assert labels["recalls"] == ["1022"], "the recall must be marked, not an unmarked duplicate"
    pages = -(-n // 4)
    assert labels["page"] == (f"Trang / Page 1/{pages}" if pages > 1 else "")
    seen = [name for page in data["pages_seen"] for name, _count in page]
    assert len(data["pages_seen"]) == pages and all(len(p) <= 4 for p in data["pages_seen"])
    assert sorted(seen) == sorted(f"{MANY[i % len(MANY)][0]} {i + 1}" for i in range(n))  # each once
    for check in data["text_checks"]:  # on every page
        assert check["min_font_px"] >= 40, check
        assert check["cut"] == [], check


def test_lunch_break_shows_the_message_not_the_last_number(tmp_path: Path, module_broker, artifacts: Path) -> None:
    """1080p, retained state/hours 'break': the message large (vi over en, >= 40 px), no number
    served, nothing announced; ticketing's 'open' at 13:30 brings the board back."""
    from mqtt.schemas import HoursState

    site = "hall-break"
    publish_retained(module_broker.port, site, SystemClock().now() - timedelta(seconds=2))
    rec = Recorder(module_broker.port, topics.status_filter(site))
    rec.publish(topics.state(site, "hours"), HoursState(
        status="break", message_vi="Nghỉ trưa – làm việc lại lúc 13:30",
        message_en="Lunch break – back at 13:30").dumps(), retain=True)
    rec.close()
    shot = artifacts / "display" / "hall-1920x1080-break.png"
    shot.unlink(missing_ok=True)
    data = run_display(tmp_path, module_broker.url, site, (1920, 1080), shot, "--closed")
    labels = data["labels"]
    assert labels["now_title"] == "Tạm dừng gọi số / Not calling now"
    assert labels["now_ticket"] == "Nghỉ trưa – làm việc lại lúc 13:30"
    assert labels["now_desk"] == "Lunch break – back at 13:30"
    assert labels["recent"] == [] and "1023" not in json.dumps(labels)
    assert labels["waiting"] == [["Hộ tịch", "12"], ["Đất đai", "3"], ["Đăng ký kinh doanh", "0"]]
    assert data["text_check"]["min_font_px"] >= 40 and data["text_check"]["cut"] == [], data["text_check"]
    assert data["announced"] == []  # the 2-second-old call is not announced during the break
    img = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    amber = (img[:, 0] > 200) & (img[:, 1] > 150) & (img[:, 1] < 230) & (img[:, 2] < 100)
    assert amber.mean() > 0.003, "the break message is not drawn"
    live = data["open_labels"]  # reopened: the board is normal again
    assert (live["now_title"], live["now_ticket"], live["now_desk"]) == ("Mời số / Now serving", "1023",
                                                                         "Quầy / Desk  5")
