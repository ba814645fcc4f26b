"""Hall display bench: model throughput, voice rendering, and start-up to first call on screen.

    .venv/bin/python bench/display.py [--no-window]

Prints figures, then one JSON line (units in the keys) as the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.clock import SystemClock, local_day  # noqa: E402
from kiosk.display.config import VoiceConfig  # noqa: E402
from kiosk.display.model import HallModel  # noqa: E402
from kiosk.display.voice import Announcer  # noqa: E402
from mqtt import topics  # noqa: E402
from mqtt.schemas import Call, CallsState  # noqa: E402
from tests.display.payloads import CALLS, calls_state, service_states, site_state  # noqa: E402  (test data)

SITE = "bench-hall"


def bench_model(n: int = 5000) -> dict[str, float]:
    clock = SystemClock()
    m = HallModel(clock=clock)
    m.apply(topics.state(SITE, "site"), site_state(SITE), retained=True)
    now = clock.now()
    payloads = []
    for i in range(n + 1):  # ticket t is called at now + t seconds; each state holds the last 10
        calls = [Call(ticket=str(1000 + t), desk=1 + t % 8, service="HT", at=now + timedelta(seconds=t))
                 for t in range(i, max(-1, i - 10), -1)]
        payloads.append(CallsState(calls=calls).dumps())
    t_calls = topics.state(SITE, "calls")
    m.apply(t_calls, payloads[0], retained=True)
    t0 = time.perf_counter()
    announced = 0
    for p in payloads[1:]:
        announced += len(m.apply(t_calls, p, retained=False))
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(1000):
        m.view()
    view_ms = (time.perf_counter() - t1)  # seconds for 1000 views = ms per view
    assert announced == n, announced
    return {"model_calls_state_per_s": round(n / dt), "model_view_ms": round(view_ms, 4)}


def bench_voice(tmp: Path) -> dict[str, float]:
    if shutil.which("espeak-ng") is None:
        print("espeak-ng missing: voice figures skipped")
        return {}
    from datetime import datetime

    from kiosk.display.model import CallView

    a = Announcer(VoiceConfig(cache_dir=str(tmp / "clips"), player=[], repeat=2))
    call = CallView("1023", 5, "HT", "Hộ tịch", "Civil status", datetime.now().astimezone())
    t0 = time.perf_counter()
    path = a.render(call)
    cold = (time.perf_counter() - t0) * 1000
    t1 = time.perf_counter()
    a.render(call)
    cached = (time.perf_counter() - t1) * 1000
    import wave
    with wave.open(str(path)) as w:
        dur = w.getnframes() / w.getframerate()
    return {"voice_render_cold_ms": round(cold, 1), "voice_render_cached_ms": round(cached, 3),
            "voice_clip_s": round(dur, 2)}


def bench_window(tmp: Path) -> dict[str, float]:
    from tests.support.broker import Mosquitto
    from tests.support.mqtt import Recorder

    b = Mosquitto(tmp / "mosquitto")
    b.start()
    try:
        rec = Recorder(b.port, topics.status_filter(SITE))
        now = SystemClock().now()
        rec.publish(topics.state(SITE, "site"), site_state(SITE), retain=True)
        for code, p in service_states(local_day(now).isoformat()).items():
            rec.publish(topics.state(SITE, "service", code), p, retain=True)
        rec.publish(topics.state(SITE, "calls"), calls_state(now - timedelta(minutes=5), CALLS), retain=True)
        rec.close()
        cfg = tmp / "display.toml"
        cfg.write_text(f'site = "{SITE}"\n[mqtt]\nurl = "{b.url}"\n[screen]\nsize = [1920, 1080]\n'
                       f'[voice]\nplayer = []\ncache_dir = "{tmp / "clips"}"\n', encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(ROOT), KIVY_NO_ARGS="1", KIVY_HOME=str(tmp / "kivy"),
                   KIVY_NO_CONSOLELOG="1", KIVY_NO_FILELOG="1")
        if not env.get("DISPLAY"):
            env.setdefault("SDL_VIDEODRIVER", "offscreen")
        (tmp / "kivy").mkdir()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "tests/display/window_driver.py"), "--config", str(cfg),
                        "--expect", "1023", "--shot", str(tmp / "shot.png"), "--result", str(tmp / "r.json")],
                       cwd=ROOT, env=env, capture_output=True, timeout=120, check=False)
        total = time.perf_counter() - t0
        r = json.loads((tmp / "r.json").read_text(encoding="utf-8"))
        return {"window_retained_to_screen_ms": round(r["shown_after_s"] * 1000),
                "window_process_total_ms": round(total * 1000)}
    finally:
        b.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-window", action="store_true", help="skip the Kivy window start-up figure")
    args = ap.parse_args()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="motcua-bench-display-") as d:
        tmp = Path(d)
        out.update(bench_model())
        out.update(bench_voice(tmp))
        if not args.no_window:
            out.update(bench_window(tmp))
    out["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    for k, v in out.items():
        print(f"{k:32} {v}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
