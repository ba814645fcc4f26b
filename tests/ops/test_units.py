"""One systemd unit per role, each verified by systemd-analyze and hardened as the issue asks."""
from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.support import ROOT

ALL_UNITS = sorted((ROOT / "systemd").glob("motcua-*.service"))
HELPERS = {"motcua-update.service", "motcua-release.service"}   # the update agent, the release server
UNITS = [p for p in ALL_UNITS if p.name not in HELPERS]
ROLES = {"collector", "ticketing", "rating-terminal", "kiosk", "display", "camera-agent", "portal"}


def unit(path: Path) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read(path)
    return cp


def test_one_unit_per_role() -> None:
    assert {p.name.removeprefix("motcua-").removesuffix(".service") for p in UNITS} == ROLES
    assert {p.name for p in ALL_UNITS} - {p.name for p in UNITS} == HELPERS


@pytest.mark.parametrize("name", sorted(HELPERS))
def test_update_units_restart_and_write_only_what_they_must(name: str) -> None:
    u = unit(ROOT / "systemd" / name)
    s = u["Service"]
    assert s["Restart"] == "always" and s["ProtectSystem"] == "strict" and s["NoNewPrivileges"] == "yes"
    assert s["ExecStart"].startswith("/opt/motcua/venv/bin/motcua ")
    if name == "motcua-update.service":
        assert s["ReadWritePaths"] == "/opt/motcua" and "User" not in s  # root: switches venvs, restarts units
    else:
        assert s["User"] == "motcua" and "mosquitto" in s["SupplementaryGroups"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_is_notify_watchdog_restart_hardened(path: Path) -> None:
    u = unit(path)
    s = u["Service"]
    assert s["Type"] == "notify" and int(s["WatchdogSec"]) > 0 and s["Restart"] == "always"
    assert s["ProtectSystem"] == "strict" and s["PrivateTmp"] == "yes" and s["NoNewPrivileges"] == "yes"
    assert s["User"] == "motcua" and s["StateDirectory"] == "motcua"
    assert "network-online.target" in u["Unit"]["After"] and "network-online.target" in u["Unit"]["Wants"]
    assert s["ExecStart"].startswith("/opt/motcua/venv/bin/motcua ")
    assert u["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("name", ["motcua-kiosk.service", "motcua-display.service"])
def test_screens_run_kivy_straight_on_the_display(name: str) -> None:
    u = unit(ROOT / "systemd" / name)
    s = u["Service"]
    env = " ".join(l for l in (ROOT / "systemd" / name).read_text().splitlines() if l.startswith("Environment="))
    assert "SDL_VIDEODRIVER=kmsdrm" in env and "KIVY_WINDOW=sdl2" in env
    assert s["TTYPath"] == "/dev/tty1"
    assert {"video", "render", "input", "tty"} <= set(s["SupplementaryGroups"].split())
    assert "systemd-user-sessions.service" in u["Unit"]["After"]
    assert "getty@tty1.service" in u["Unit"]["Conflicts"]


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    exe = shutil.which("systemd-analyze")
    if not exe:
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    fake = tmp_path / "motcua"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    for p in ALL_UNITS:  # ExecStart must exist for verify: point it at a real executable
        (tmp_path / p.name).write_text(p.read_text().replace("/opt/motcua/venv/bin/motcua", str(fake)))
    names = [str(tmp_path / p.name) for p in ALL_UNITS]
    proc = subprocess.run([exe, "verify", "--man=no", *names], capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    mine = [l for l in out.splitlines() if str(tmp_path) in l]
    assert not mine, "systemd-analyze warns about our units:\n" + "\n".join(mine)


def test_verify_would_catch_a_bad_key(tmp_path: Path) -> None:
    exe = shutil.which("systemd-analyze")
    if not exe:
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    bad = tmp_path / "motcua-kiosk.service"
    bad.write_text((ROOT / "systemd/motcua-kiosk.service").read_text()
                   .replace("/opt/motcua/venv/bin/motcua", "/bin/true").replace("WatchdogSec=30", "WatchdogSecs=30"))
    proc = subprocess.run([exe, "verify", "--man=no", str(bad)], capture_output=True, text=True, timeout=60)
    assert "WatchdogSecs" in proc.stdout + proc.stderr
