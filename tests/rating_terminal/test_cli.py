"""The CLI: --check-config, --help with an example, config errors naming file:line, --simulate headless."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from common.errors import ConfigError
from mqtt import topics
from tests.support.mqtt import Recorder

from .conftest import EXAMPLE, ROOT, SITE, make_config


def run(args: list[str], stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "rating_terminal", *args], cwd=ROOT, env=env, input=stdin,
                          text=True, capture_output=True, timeout=timeout)


def test_check_config_and_help():
    r = run(["--check-config", "--config", str(EXAMPLE)])
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout and "desk 5" in r.stdout
    h = run(["--help"])
    assert h.returncode == 0 and "motcua rating-terminal --simulate" in h.stdout


def test_bad_config_names_file_line_and_key(tmp_path):
    bad = tmp_path / "rt.toml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace("buzzer = 18", "buzzer = 17"), encoding="utf-8")
    r = run(["--check-config", "--config", str(bad)])
    assert r.returncode == 2
    assert "GPIO17 is used twice" in r.stderr and str(bad) in r.stderr


@pytest.mark.parametrize("replace, words", [
    ({"scale = 5 ": "scale = 3 "}, "scores 1..3"),
    ({"misuse_window_s = 5.0": "misuse_window_s = -1"}, "misuse_window_s"),
    ({"debounce_ms = 30": "debounce_ms = 30\nbounce = 1"}, "unknown key"),
])
def test_nonsense_is_refused(tmp_path, replace, words):
    with pytest.raises(ConfigError) as exc:
        make_config(tmp_path, replace=replace)
    assert words in str(exc.value) and "test.toml:" in str(exc.value)


def test_scale_3_takes_default_labels(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    head, _, rest = text.partition("[[rating.buttons]]")
    tail = rest[rest.index("[hardware]"):]
    buttons = "".join(f"[[rating.buttons]]\nscore = {s}\npin = {p}\nled = {l}\n\n"
                      for s, p, l in ((3, 5, 17), (2, 6, 27), (1, 13, 22)))
    p = tmp_path / "rt3.toml"
    p.write_text(head.replace("scale = 5 ", "scale = 3 ") + buttons + tail, encoding="utf-8")
    from rating_terminal.config import load
    cfg = load(p)
    assert [(b.score, b.label_vi, b.label_en) for b in cfg.rating.buttons] == [
        (3, "Hài lòng", "Satisfied"), (2, "Bình thường", "Neutral"), (1, "Không hài lòng", "Dissatisfied")]


def test_simulate_headless_reads_lines_and_draws_leds(broker, tmp_path):
    rec = Recorder(broker.port, topics.events_filter(SITE, "rating"), topics.events_filter(SITE, "desk"),
                   topics.requests_filter(SITE, "call-next"))
    cfg = tmp_path / "rt.toml"
    cfg.write_text(EXAMPLE.read_text(encoding="utf-8").replace("request_timeout_s = 2.0", "request_timeout_s = 0.3"),
                   encoding="utf-8")
    r = run(["--simulate", "--config", str(cfg), "--broker", broker.url, "--outbox", str(tmp_path / "o.db")],
            stdin="4\nb\nn\nq\n")
    assert r.returncode == 0, r.stderr
    assert "1-5" in r.stdout                                 # the key help
    assert "LED 5○ 4● 3○ 2○ 1○" in r.stdout                  # the thanks LED drawn as text
    assert "cán bộ/officer sim-card-1" in r.stdout
    assert rec.wait_for(lambda m: any(t.endswith("/evt/desk") for t, _, _ in m) and
                        any(t.endswith("/evt/rating") for t, _, _ in m))
    rating = next(json.loads(p) for t, p, _ in rec.messages if t.endswith("/evt/rating"))
    assert rating["data"]["score"] == 4
    calls = [json.loads(p) for t, p, _ in rec.messages if t.endswith("/req/call-next")]
    assert len(calls) == 3 and len({c["id"] for c in calls}) == 1   # no ticketing: same id retried
    assert calls[0]["officer"] == "sim-card-1"
    assert "KHÔNG PHẢN HỒI|NO ANSWER" in r.stdout
    rec.close()
