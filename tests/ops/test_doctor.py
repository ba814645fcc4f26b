"""`motcua doctor` against a live private broker, a dead one, mock GPIO, a pty printer, a video file."""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ops.doctor import FAIL, OK, SKIP, Doctor, table
from ops.render import set_keys
from ops.roles import role_named
from tests.ops.support import ROOT, free_port, run_ops


def rt_config(tmp_path: Path, url: str, **extra: object) -> Path:
    cfg = tmp_path / "rating-terminal.toml"
    values = {"mqtt.url": url, "outbox": str(tmp_path / "state" / "outbox.db"), **extra}
    cfg.write_text(set_keys((ROOT / "config/rating-terminal.toml").read_text(), values))
    (tmp_path / "state").mkdir(exist_ok=True)
    return cfg


def by_name(checks):  # noqa: ANN001, ANN201
    return {c.name: c for c in checks}


def mock_factory():  # noqa: ANN201
    from gpiozero.pins.mock import MockFactory
    return MockFactory()


def test_live_broker_all_checks_ok(tmp_path: Path, broker) -> None:  # noqa: ANN001
    cfg = rt_config(tmp_path, broker.url)
    checks = Doctor(cfg, role_named("rating-terminal"), pin_factory=mock_factory(), clock_synced=lambda: True,
                    systemctl=None, env={}).run()
    got = by_name(checks)
    assert got["broker"].result == OK, got["broker"]
    assert got["gpio"].result == OK and "5" in got["gpio"].detail and "12" in got["gpio"].detail
    assert got["state dir"].result == OK and got["disk"].result == OK and got["clock"].result == OK
    assert got["watchdog"].result == SKIP
    assert not [c for c in checks if c.result == FAIL], table(checks)


def test_dead_broker_fails_with_a_fix(tmp_path: Path) -> None:
    cfg = rt_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    proc = run_ops("doctor", "--config", str(cfg), "--timeout", "1", check=False)
    assert proc.returncode == 1
    line = next(l for l in proc.stdout.splitlines() if l.startswith("broker"))
    assert "FAIL" in line
    after = proc.stdout.split(line + "\n", 1)[1].splitlines()
    assert after[0].strip().startswith("-> Cách sửa:") and "Mosquitto" in after[0]
    assert after[1].strip().startswith("-> Fix:")


def test_wrong_password_is_told_apart(tmp_path: Path) -> None:
    from tests.support.broker import Mosquitto
    pw = tmp_path / "passwd"
    pw.write_text("")
    b = Mosquitto(tmp_path / "m", anonymous=False, extra_conf=f"password_file {pw}")
    b.start()
    try:
        cfg = rt_config(tmp_path, b.url, **{"mqtt.username": "rt-05", "mqtt.password": "nope"})
        got = by_name(Doctor(cfg, role_named("rating-terminal"), pin_factory=mock_factory(),
                             clock_synced=lambda: True, systemctl=None, env={}).run())
        assert got["broker"].result == FAIL and "refused" in got["broker"].detail
        assert "provision-device" in got["broker"].fix_en
    finally:
        b.stop()


def test_gpio_conflict_and_unsynced_clock_and_unwritable_state(tmp_path: Path, broker) -> None:  # noqa: ANN001
    cfg = rt_config(tmp_path, broker.url, **{"hardware.buzzer": 5, "outbox": "/proc/motcua/outbox.db"})
    checks = Doctor(cfg, role_named("rating-terminal"), pin_factory=mock_factory(), clock_synced=lambda: False,
                    systemctl=None, env={}).run()
    got = by_name(checks)
    assert got["gpio"].result == FAIL and "hardware.buzzer: pin 5 also used by rating.buttons[0].pin" in got["gpio"].detail
    assert got["clock"].result == FAIL and "timedatectl" in got["clock"].fix_en
    assert got["state dir"].result == FAIL
    assert "Cách sửa" in table(checks)


def test_no_gpio_on_this_machine_is_a_failure_with_a_fix(tmp_path: Path, broker) -> None:  # noqa: ANN001
    from gpiozero import Device
    if Device.pin_factory is not None:
        pytest.skip("a pin factory is already set in this process")
    try:
        Device.ensure_pin_factory()
        pytest.skip("this machine has GPIO")
    except Exception:  # noqa: BLE001 - BadPinFactory: what we want to see reported
        pass
    cfg = rt_config(tmp_path, broker.url)
    got = by_name(Doctor(cfg, role_named("rating-terminal"), clock_synced=lambda: True, systemctl=None, env={}).run())
    assert got["gpio"].result == FAIL and "lgpio" in got["gpio"].fix_en


def test_camera_gives_frames_or_fails(tmp_path: Path, broker) -> None:  # noqa: ANN001
    import cv2
    import numpy as np
    video = tmp_path / "desk.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (160, 120))
    for i in range(5):
        w.write(np.full((120, 160, 3), i * 40, np.uint8))
    w.release()
    cam = tmp_path / "camera.toml"
    text = set_keys((ROOT / "config/camera.toml").read_text(),
                    {"mqtt.url": broker.url, "source.uri": str(video), "state_dir": str(tmp_path)})
    cam.write_text(text)
    got = by_name(Doctor(cam, role_named("camera"), clock_synced=lambda: True, systemctl=None, env={}).run())
    assert got["camera"].result == OK and "160x120" in got["camera"].detail, got
    assert got["config"].result == OK
    cam.write_text(set_keys(text, {"source.uri": str(tmp_path / "missing.avi")}))
    got = by_name(Doctor(cam, role_named("camera"), clock_synced=lambda: True, systemctl=None, env={}).run())
    assert got["camera"].result == FAIL and "raspi-config" in got["camera"].fix_en


@pytest.mark.skipif(not shutil.which("socat"), reason="socat not installed (apt-get install socat)")
@pytest.mark.parametrize("answer,expect", [(b"\x12", OK), (b"\x1a", FAIL), (None, FAIL)])
def test_printer_answers_status(tmp_path: Path, broker, answer: bytes | None, expect: str) -> None:  # noqa: ANN001
    import serial
    a, b = tmp_path / "printer", tmp_path / "host"
    socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"])
    try:
        for _ in range(100):
            if a.exists() and b.exists():
                break
            time.sleep(0.02)
        printer = serial.Serial(str(a), 19200, timeout=0.1)
        stop = threading.Event()

        def firmware() -> None:  # answers DLE EOT n like an ESC/POS printer with paper
            while not stop.is_set():
                req = printer.read(3)
                if req[:2] == b"\x10\x04" and answer is not None:
                    printer.write(answer if req[2:] == b"\x01" else b"\x12")

        t = threading.Thread(target=firmware, daemon=True)
        t.start()
        cfg = tmp_path / "kiosk.toml"
        cfg.write_text(set_keys((ROOT / "config/kiosk.toml").read_text(),
                                {"mqtt.url": broker.url, "printer.port": str(b), "kiosk.state_dir": str(tmp_path)}))
        got = by_name(Doctor(cfg, role_named("kiosk"), timeout_s=0.5, clock_synced=lambda: True, systemctl=None,
                             env={}).run())
        stop.set()
        t.join(2)
        printer.close()
        assert got["printer"].result == expect, got["printer"]
        if answer == b"\x1a":
            assert "offline" in got["printer"].detail
    finally:
        socat.terminate()
        socat.wait(5)


def test_watchdog_from_the_environment_and_systemctl(tmp_path: Path, broker) -> None:  # noqa: ANN001
    cfg = rt_config(tmp_path, broker.url)
    d = Doctor(cfg, role_named("rating-terminal"), env={"WATCHDOG_USEC": "30000000"})
    assert d.check_watchdog().result == OK
    fake = tmp_path / "systemctl"
    fake.write_text("#!/bin/sh\necho LoadState=loaded\necho ActiveState=failed\necho WatchdogUSec=30s\necho NRestarts=4\n")
    fake.chmod(0o755)
    c = Doctor(cfg, role_named("rating-terminal"), systemctl=str(fake), env={}).check_watchdog()
    assert c.result == FAIL and "restarts: 4" in c.detail and "journalctl" in c.fix_en


def test_broker_down_is_told_apart_from_an_unreachable_server(tmp_path: Path) -> None:
    from tests.support.broker import Mosquitto
    b = Mosquitto(tmp_path / "m")
    b.start()
    cfg = rt_config(tmp_path, b.url)
    doc = lambda: by_name(Doctor(cfg, role_named("rating-terminal"), timeout_s=1, pin_factory=mock_factory(),  # noqa: E731
                                 clock_synced=lambda: True, systemctl=None, env={}).run())["broker"]
    assert doc().result == OK
    b.stop()
    down = doc()
    assert down.result == FAIL and "Mosquitto is not running" in down.detail
    assert "systemctl restart mosquitto" in down.fix_en and "journalctl -u mosquitto" in down.fix_vi
    import socket
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers: not Mosquitto
        cfg.write_text(set_keys(cfg.read_text(), {"mqtt.url": f"mqtt://127.0.0.1:{silent.getsockname()[1]}"}))
        away = doc()
    assert away.result == FAIL and "no answer" in away.detail and "not running" not in away.detail
    assert "network" in away.fix_en


def test_clock_without_any_time_sync_service_says_what_to_install(tmp_path: Path, broker) -> None:  # noqa: ANN001
    cfg = rt_config(tmp_path, broker.url)
    run = lambda installed: by_name(Doctor(  # noqa: E731
        cfg, role_named("rating-terminal"), pin_factory=mock_factory(), clock_synced=lambda: False, systemctl=None,
        env={}, time_sync_installed=lambda: installed).run())["clock"]
    bare = run(False)
    assert bare.result == FAIL and "no time sync service" in bare.detail
    assert "apt install systemd-timesyncd" in bare.fix_en and "apt install systemd-timesyncd" in bare.fix_vi
    assert "apt install" not in run(True).fix_en


def test_printer_device_missing_names_the_port_and_how_to_find_it(tmp_path: Path, broker) -> None:  # noqa: ANN001
    cfg = tmp_path / "kiosk.toml"
    port = tmp_path / "ttyUSB9"
    cfg.write_text(set_keys((ROOT / "config/kiosk.toml").read_text(),
                            {"mqtt.url": broker.url, "printer.port": str(port), "kiosk.state_dir": str(tmp_path)}))
    got = by_name(Doctor(cfg, role_named("kiosk"), timeout_s=0.5, clock_synced=lambda: True, systemctl=None,
                         env={}).run())["printer"]
    assert got.result == FAIL and f"{port}: no such device" in got.detail
    assert "/dev/serial/by-id" in got.fix_en and "Cắm cáp" in got.fix_vi and str(cfg) in got.fix_en


CHRONY_NORMAL = """Reference ID    : 0A4D0002 (srv)
Stratum         : 11
System time     : 0.000012 seconds fast of NTP time
Leap status     : Normal
"""


@pytest.mark.parametrize("tracking, rc, kernel, result, words", [
    (CHRONY_NORMAL, 0, True, OK, "synchronised by chrony (reference 0A4D0002 (srv), 0.000012 seconds fast"),
    (CHRONY_NORMAL, 0, False, OK, "kernel's flag is not set"),
    (CHRONY_NORMAL.replace("Normal", "Not synchronised"), 0, True, FAIL, "leap status is 'Not synchronised'"),
    ("506 Cannot talk to daemon\n", 1, True, FAIL, "chronyd does not answer (506 Cannot talk to daemon)"),
])
def test_clock_asks_chrony(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracking: str, rc: int, kernel: bool,
                           result: str, words: str) -> None:
    (tmp_path / "tracking").write_text(tracking)
    (tmp_path / "rc").write_text(str(rc))
    monkeypatch.setenv("FAKE_CHRONY", str(tmp_path))
    doc = Doctor(tmp_path / "rating-terminal.toml", role_named("rating-terminal"), clock_synced=lambda: kernel,
                 chronyc=str(ROOT / "tests/system/fake-chronyc"), timesyncd_flag=tmp_path / "absent")
    got = doc.check_clock()
    assert got.result == result and words in got.detail, got
    if result == FAIL:
        assert "chrony" in got.fix_en and "chrony" in got.fix_vi


def test_clock_takes_timesyncds_word_then_the_kernels(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    doc = lambda kernel: Doctor(tmp_path / "x.toml", role_named("rating-terminal"),  # noqa: E731
                                clock_synced=lambda: kernel, chronyc=None, timesyncd_flag=flag).check_clock()
    assert doc(True).detail == "synchronised by NTP" and doc(False).result == FAIL
    flag.touch()
    assert doc(True).result == OK and doc(True).detail == "synchronised by systemd-timesyncd"
