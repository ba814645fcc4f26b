"""`motcua kiosk` command line: help with an example, --check-config."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "kiosk", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_help_has_an_example() -> None:
    p = run("--help")
    assert p.returncode == 0 and "motcua kiosk --config /etc/motcua/kiosk.toml" in p.stdout
    assert "--check-config" in p.stdout and "--windowed" in p.stdout and "--broker" in p.stdout


def test_example_config_is_valid() -> None:
    p = run("--config", "config/kiosk.toml", "--check-config")
    assert p.returncode == 0, p.stderr
    assert "printer serial 80 mm" in p.stdout


def test_bad_config_names_file_line_and_key(tmp_path: Path) -> None:
    text = (ROOT / "config" / "kiosk.toml").read_text().replace("width_mm = 80", "width_mm = 70")
    bad = tmp_path / "kiosk.toml"
    bad.write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith("width_mm"))
    p = run("--config", str(bad), "--check-config")
    assert p.returncode == 2
    assert f"{bad}:{line}: printer.width_mm" in p.stderr


def test_bad_qr_template_is_refused(tmp_path: Path) -> None:
    text = (ROOT / "config" / "kiosk.toml").read_text().replace("{ticket}\"", "{tiket}\"")
    bad = tmp_path / "kiosk.toml"
    bad.write_text(text)
    p = run("--config", str(bad), "--check-config")
    assert p.returncode == 2 and "unknown field" in p.stderr and "{ticket}" in p.stderr
