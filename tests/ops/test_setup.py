"""setup.sh: --dry-run lists each role's actions; a run into --root writes what it should, and a
second run changes nothing. Never installs packages or creates users here (--root / --dry-run)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.ops.support import ROOT, SITE, run_ops

ROLES = {
    "server": ("mosquitto", "server", ["motcua-ticketing.service", "motcua-collector.service"],
               ["ticketing.toml", "collector.toml", "site.toml"]),
    "rating-terminal": ("python3-lgpio", "rating", ["motcua-rating-terminal.service"], ["rating-terminal.toml"]),
    "kiosk": ("fonts-noto-core", "kiosk", ["motcua-kiosk.service"], ["kiosk.toml"]),
    "display": ("espeak-ng", "kiosk", ["motcua-display.service"], ["display.toml"]),
    "camera": ("python3-picamera2", "camera", ["motcua-camera-agent.service"], ["camera.toml"]),
}


def setup(*args: str, script: Path = ROOT / "setup.sh", code: int = 0,
          **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOTCUA_PYTHON": sys.executable, "MOTCUA_OS": "raspios", **env_extra}
    proc = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    return proc


def snapshot(root: Path) -> dict[str, tuple[float, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("role", ROLES)
def test_dry_run_lists_the_role_actions(role: str, tmp_path: Path) -> None:
    pkg, extra, units, configs = ROLES[role]
    out = setup("--role", role, "--site", SITE, "--device", "dev-1", "--dry-run", "--root", str(tmp_path)).stdout
    assert f"apt-get install -y" in out and pkg in out
    assert "useradd --system" in out and "motcua" in out
    assert f"pip install --no-build-isolation '{ROOT}[{extra}]'" in out
    for c in configs:
        assert f"write-config --role {c.removesuffix('.toml')} " in out and f"--out {tmp_path}/etc/motcua/{c}" in out
    for u in units:
        assert f"install -D -m 0644 {ROOT}/systemd/{u} {tmp_path}/etc/systemd/system/{u}" in out
        assert f"systemctl enable {u}" in out and f"systemctl restart {u}" in out
    if role == "server":
        assert "server-init --site camau-hcc" in out and "systemctl enable mosquitto" in out
    if role in ("kiosk", "display"):
        assert "systemctl set-default multi-user.target" in out
    apt = next(l for l in out.splitlines() if "apt-get install" in l)
    only = {"mosquitto": "server", "python3-picamera2": "camera", "espeak-ng": "display", "libsdl2-2.0-0": "kiosk"}
    for p, owner in only.items():
        assert (p in apt) == (owner == role or (p == "libsdl2-2.0-0" and role == "display")), (p, apt)
    assert list(tmp_path.iterdir()) == [], "a dry run writes nothing"


def test_server_then_device_into_a_root_prefix_and_again(tmp_path: Path) -> None:
    srv, dev = tmp_path / "srv", tmp_path / "dev"
    first = setup("--role", "server", "--site", SITE, "--root", str(srv)).stdout
    assert "skipped (root prefix): apt-get install" in first and "skipped (root prefix): systemctl" in first
    for f in ("etc/mosquitto/conf.d/motcua.conf", "etc/mosquitto/motcua/acl", "etc/mosquitto/motcua/passwd",
              "etc/motcua/ticketing.toml", "etc/motcua/collector.toml", "etc/motcua/site.toml",
              "etc/systemd/system/motcua-ticketing.service", "etc/systemd/system/motcua-collector.service"):
        assert (srv / f).is_file(), f
    assert (srv / "etc/systemd/system/motcua-ticketing.service").read_text() == \
        (ROOT / "systemd/motcua-ticketing.service").read_text()
    assert tomllib.loads((srv / "etc/motcua/site.toml").read_text())["site"] == SITE
    before = snapshot(srv)
    second = setup("--role", "server", "--site", SITE, "--root", str(srv)).stdout
    assert "nothing changed" in second and "\nchanged:" not in second
    assert snapshot(srv) == before

    run_ops("provision-device", "--site", SITE, "--device", "rt-05", "--role", "rating-terminal", "--desk", "5",
            "--broker", "mqtt://srv.local:1883", "--root", str(srv))
    bundle = srv / "etc/motcua/provision/rt-05"
    args = ("--role", "rating-terminal", "--site", SITE, "--device", "rt-05", "--desk", "5",
            "--bundle", str(bundle), "--root", str(dev))
    setup(*args)
    cfg = tomllib.loads((dev / "etc/motcua/rating-terminal.toml").read_text())
    assert (cfg["site"], cfg["device"], cfg["desk"]) == (SITE, "rt-05", 5)
    assert cfg["mqtt"]["url"] == "mqtt://srv.local:1883" and cfg["mqtt"]["username"] == "rt-05"
    assert cfg["mqtt"]["password"] == tomllib.loads((bundle / "mqtt.toml").read_text())["mqtt"]["password"]
    assert (dev / "etc/systemd/system/motcua-rating-terminal.service").is_file()
    assert run_ops("check-config", str(dev / "etc/motcua/rating-terminal.toml")).returncode == 0
    before = snapshot(dev)
    assert "nothing changed" in setup(*args).stdout
    assert snapshot(dev) == before


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    for args in (["--role", "toaster", "--site", SITE, "--device", "x"],
                 ["--role", "kiosk", "--site", "Bad Site", "--device", "x"],
                 ["--role", "kiosk", "--site", SITE, "--device", "k-1", "--bundle", str(tmp_path)]):
        proc = subprocess.run(["bash", str(ROOT / "setup.sh"), *args, "--root", str(tmp_path / "r")],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "error" in proc.stderr


def test_dev_setup_dry_run(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "setup.sh", repo / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    out = setup("--dry-run", script=repo / "setup.sh").stdout
    assert "development set-up" in out
    assert f"python3 -m venv {repo}/.venv" in out
    assert f"{repo}/.venv/bin/pip install --quiet -e {repo}[all,dev]" in out
    assert not (repo / ".venv").exists()
    # a venv with a matching stamp: nothing to do
    (repo / ".venv/bin").mkdir(parents=True)
    (repo / ".venv/bin/python").symlink_to(sys.executable)
    digest = subprocess.run(["sha256sum", str(repo / "pyproject.toml")], capture_output=True, text=True).stdout.split()[0]
    (repo / ".venv/.motcua-stamp").write_text(digest + "\n")
    out = setup("--dry-run", script=repo / "setup.sh").stdout
    assert "pip install" not in out and "ok: motcua installed" in out


def _apt_line(out: str) -> str:
    return next(l for l in out.splitlines() if "apt-get install" in l)


@pytest.mark.parametrize("role", ["rating-terminal", "kiosk"])
def test_lgpio_from_apt_on_raspberry_pi_os_from_pypi_on_debian(role: str, tmp_path: Path) -> None:
    args = ("--role", role, "--site", SITE, "--device", "dev-1", "--dry-run", "--root", str(tmp_path))
    pi = setup(*args, MOTCUA_OS="raspios").stdout
    assert "python3-lgpio" in _apt_line(pi)
    pip = next(l for l in pi.splitlines() if "pip install" in l)
    assert not pip.rstrip().endswith("lgpio")
    deb = setup(*args, MOTCUA_OS="debian").stdout
    assert "python3-lgpio" not in _apt_line(deb)
    pip = next(l for l in deb.splitlines() if "pip install" in l)
    assert pip.rstrip().endswith(" lgpio"), pip
    assert "lgpio comes from PyPI" in deb


def test_picamera2_only_where_apt_has_it(tmp_path: Path) -> None:
    args = ("--role", "camera", "--site", SITE, "--device", "cam-1", "--dry-run", "--root", str(tmp_path))
    assert "python3-picamera2" in _apt_line(setup(*args, MOTCUA_OS="raspios").stdout)
    deb = setup(*args, MOTCUA_OS="debian").stdout
    assert "python3-picamera2" not in _apt_line(deb) and "works without it" in deb


@pytest.mark.parametrize("role,missing", [("rating-terminal", "GPIO"), ("kiosk", "display"),
                                          ("display", "display"), ("camera", "camera")])
def test_a_machine_without_the_hardware_is_refused_before_anything(role: str, missing: str, tmp_path: Path) -> None:
    dev, root = tmp_path / "dev", tmp_path / "root"
    dev.mkdir()
    args = ("--role", role, "--site", SITE, "--device", "dev-1", "--root", str(root))
    proc = setup(*args, code=3, MOTCUA_DEV=str(dev))
    assert "không chạy được vai trò" in proc.stderr and "cannot serve the role" in proc.stderr
    assert missing in proc.stderr and "--mock-hardware" in proc.stderr
    assert list(root.iterdir()) == [], "nothing installed when the role cannot be served"
    # the hardware present: accepted
    (dev / "gpiochip0").touch()
    (dev / "dri").mkdir()
    (dev / "dri/card0").touch()
    (dev / "video0").touch()
    setup(*args, MOTCUA_DEV=str(dev))


def test_mock_hardware_installs_a_dropin_and_is_idempotent(tmp_path: Path) -> None:
    dev, root = tmp_path / "dev", tmp_path / "root"
    dev.mkdir()
    args = ("--role", "kiosk", "--site", SITE, "--device", "k-1", "--root", str(root), "--mock-hardware")
    out = setup(*args, MOTCUA_DEV=str(dev)).stdout
    assert "--mock-hardware, the role runs on stand-ins" in out
    drop = (root / "etc/systemd/system/motcua-kiosk.service.d/mock-hardware.conf").read_text()
    assert "GPIOZERO_PIN_FACTORY=mock" in drop and "SDL_VIDEODRIVER=offscreen" in drop
    before = snapshot(root)
    assert "nothing changed" in setup(*args, MOTCUA_DEV=str(dev)).stdout
    assert snapshot(root) == before


def test_missing_groups_are_created(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/group").write_text("root:x:0:\ndialout:x:20:\n")
    out = setup("--role", "rating-terminal", "--site", SITE, "--device", "rt-1", "--root", str(root)).stdout
    assert "skipped (root prefix): groupadd --system gpio" in out
    assert "ok: group dialout exists" in out and "groupadd --system dialout" not in out


@pytest.mark.parametrize("role", ROLES)
def test_every_path_a_unit_names_is_what_setup_installs(role: str, tmp_path: Path) -> None:
    import configparser
    out = setup("--role", role, "--site", SITE, "--device", "dev-1", "--root", str(tmp_path)).stdout
    assert "skipped (root prefix): ln -sfn /opt/motcua/venvs/" in out and " /opt/motcua/venv\n" in out
    helper = "motcua-release.service" if role == "server" else "motcua-update.service"
    for name in ROLES[role][2] + [helper]:
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.read(tmp_path / "etc/systemd/system" / name)
        doc = cp["Unit"]["Documentation"]
        assert doc.startswith("file:///") and (tmp_path / doc.removeprefix("file:///")).is_file(), doc
        exe, *rest = cp["Service"]["ExecStart"].split()
        assert exe == "/opt/motcua/venv/bin/motcua"
        if "--config" not in rest:
            continue
        config = rest[rest.index("--config") + 1]
        assert (tmp_path / config.lstrip("/")).is_file(), config


def test_a_replacement_device_continues_the_old_seq(tmp_path: Path) -> None:
    """replace-device reads the collector's last seq; setup.sh seeds the new outbox after it."""
    import sqlite3
    srv, dev = tmp_path / "srv", tmp_path / "dev"
    setup("--role", "server", "--site", SITE, "--root", str(srv))
    run_ops("provision-device", "--site", SITE, "--device", "rt-05", "--role", "rating-terminal", "--desk", "5",
            "--root", str(srv))
    db = tmp_path / "collector.db"
    with sqlite3.connect(db) as c:  # what the collector has from the old rt-05
        c.execute("CREATE TABLE devices (site TEXT, device TEXT, last_seq INTEGER)")
        c.execute("CREATE TABLE events (site TEXT, device TEXT, seq INTEGER)")
        c.execute("INSERT INTO devices VALUES (?, 'rt-05', 41)", (SITE,))
        c.executemany("INSERT INTO events VALUES (?, 'rt-05', ?)", [(SITE, n) for n in range(1, 42)])
    (tmp_path / "collector.toml").write_text(f'db = "{db}"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", "import sys; from ops.replace import replace_device; "
                           "sys.exit(replace_device(sys.argv[1:]))", "--site", SITE, "--device", "rt-05",
                           "--role", "rating-terminal", "--desk", "5", "--root", str(srv), "--collector-config",
                           str(tmp_path / "collector.toml"), "--broker", "mqtt://srv:1883"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    bundle = srv / "etc/motcua/provision/rt-05"
    assert "next_seq = 42" in (bundle / "continue.toml").read_text()
    args = ("--role", "rating-terminal", "--site", SITE, "--device", "rt-05", "--desk", "5", "--bundle", str(bundle),
            "--root", str(dev))
    out = setup(*args).stdout
    assert "starts at seq 42" in out
    outbox = dev / tomllib.loads((dev / "etc/motcua/rating-terminal.toml").read_text())["outbox"].lstrip("/")
    from mqtt.outbox import Outbox
    from mqtt.schemas import RatingData
    ob = Outbox(outbox, SITE, "rt-05")
    try:
        assert ob.enqueue("rating", RatingData(desk=5, score=5, scale=5)).seq == 42
    finally:
        ob.close()
    assert "exists (its own seq goes on" in setup(*args).stdout, "an existing outbox is never re-seeded"
