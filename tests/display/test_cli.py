"""`motcua display`: help with an example, --check-config on the shipped and on a bad config."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.display_cli import main
from tests.conftest import ROOT

CONFIG = ROOT / "config" / "display.toml"


def test_help_through_motcua_has_an_example() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "common", "display", "--help"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "motcua display --config /etc/motcua/display.toml" in out.stdout
    assert "--check-config" in out.stdout and "--broker" in out.stdout


def test_shipped_config_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(CONFIG), "--check-config"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "1920x1080 fullscreen" in out
    assert "kivy.core.window" not in sys.modules  # checking a config never imports the window


def test_bad_config_names_file_line_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "display.toml"
    text = CONFIG.read_text(encoding="utf-8")
    bad.write_text(text.replace("repeat = 2 ", "repeat = 9 ").replace("recent = 6 ", "recnt = 6 "),
                   encoding="utf-8")
    assert main(["--config", str(bad), "--check-config"]) == 2
    err = capsys.readouterr().err
    line_repeat = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("repeat ="))
    assert f"{bad}:{line_repeat}: voice.repeat:" in err
    assert "screen.recnt: unknown key" in err


def test_bad_broker_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(CONFIG), "--check-config", "--broker", "http://x:1"]) == 2
    assert "scheme must be mqtt://" in capsys.readouterr().err
