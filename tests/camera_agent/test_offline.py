"""replay and evaluate, through the CLI, on synthetic video and on the real clip."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from camera_agent import cli

from .conftest import CLIP_SEAT, LABELS

ROOT = Path(__file__).resolve().parents[2]
SYN_SEAT = "seat=0.5625,0.3333,0.8594,0.3333,0.8594,0.9375,0.5625,0.9375"


def lines(out: str) -> list[dict]:
    return [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]


def test_replay_prints_one_json_line_per_change_then_totals(synthetic_video, capsys):
    video, _ = synthetic_video
    assert cli.main(["replay", "--source", str(video), "--fps", "5", "--zone", SYN_SEAT]) == 0
    out = lines(capsys.readouterr().out)
    changes, last = out[:-1], out[-1]
    assert [c["present"] for c in changes] == [True, False]
    assert set(changes[0]) == {"frame", "t", "zone", "present"}
    assert changes[0]["zone"] == "seat" and changes[0]["t"] == pytest.approx(changes[0]["frame"] / 5)
    assert last["frames"] == 280 and last["ms_per_frame"] > 0


def test_evaluate_scores_synthetic_video(synthetic_video, capsys):
    video, labels = synthetic_video
    assert cli.main(["evaluate", "--source", str(video), "--fps", "5", "--zone", SYN_SEAT,
                     "--labels", str(labels)]) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "F1" in out
    report = lines(out)[-1]
    seat = report["zones"]["seat"]
    assert seat["f1"] >= 0.95
    assert all(c["within_tolerance"] for c in seat["changes"])
    assert report["ms_per_frame"] > 0


def test_real_clip_meets_the_target(real_clip, capsys):
    """F1 >= 0.95 and every true change within 3 s at 4 fps, on the Wallflower clip."""
    assert cli.main(["evaluate", "--source", str(real_clip), "--fps", "4", "--zone", CLIP_SEAT,
                     "--labels", str(LABELS)]) == 0
    seat = lines(capsys.readouterr().out)[-1]["zones"]["seat"]
    assert seat["f1"] >= 0.95
    assert len(seat["changes"]) == 2
    for c in seat["changes"]:
        assert c["detected_frame"] is not None and 0 <= c["delay_s"] <= 3.0, c


def test_python_dash_m_works(synthetic_video):
    video, _ = synthetic_video
    r = subprocess.run([sys.executable, "-m", "camera_agent", "replay", "--source", str(video), "--fps", "5",
                        "--zone", SYN_SEAT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "ms_per_frame" in r.stdout.splitlines()[-1]


def test_bad_input_is_a_clear_error(capsys, tmp_path):
    assert cli.main(["replay", "--source", str(tmp_path / "none.avi"), "--fps", "4", "--zone", CLIP_SEAT]) == 1
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["replay", "--source", "x.avi", "--fps", "4", "--zone", "seat=1,2"]) == 1


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_is_documented_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and f"motcua camera-agent {command}" in out


TREES = ROOT.parent / "shared" / "testdata" / "moving_background"
TREES_ZONE = "z=0.30,0.35,0.70,0.35,0.70,1.0,0.30,1.0"


def test_moving_background_clip_meets_the_target(capsys):
    """Foliage moving all the time, a person for about 3 s: F1 >= 0.95 outside 3 s of each
    true change, the arrival caught within 3 s (failed with F1 0.000 on the change-only pipeline)."""
    clip, labels = TREES / "waving_trees_160x120.avi", TREES / "labels.csv"
    if not clip.exists() or not labels.exists():
        pytest.skip(f"real footage not found at {TREES} (../shared/testdata is not ours to ship)")
    assert cli.main(["evaluate", "--source", str(clip), "--fps", "4", "--zone", TREES_ZONE,
                     "--labels", str(labels)]) == 0
    z = lines(capsys.readouterr().out)[-1]["zones"]["z"]
    assert z["f1"] >= 0.95 and z["extra_changes"] == 0, z
    arrive = z["changes"][0]
    assert arrive["present"] and arrive["detected_frame"] is not None and 0 <= arrive["delay_s"] <= 3.0, arrive
