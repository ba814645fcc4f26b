"""Bench of the desk rating terminal.

In-process terminal on gpiozero MockFactory pins and a private Mosquitto:
  press (mock pin edge) -> PUBACK latency (paho's on_publish for the rating), p50/p99;
  press -> stored and confirmed: the real collector (its own process) stored the rating and its
    confirmation reached the terminal (outbox depth 0; the row leaves the disk with the next
    commit), p50/p99 (``press_to_confirmed_p99_ms``, target <= 50 ms);
  press -> thanks LED latency (time-stamped pin), p50/p99;
  RSS of this process;
and of a separate `python -m rating_terminal --simulate` process: idle CPU over 10 s and RSS.

Run from the repo root:  .venv/bin/python bench/rating_terminal.py [--presses 300]
The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from gpiozero.pins.mock import MockFactory, MockPin  # noqa: E402

from common.config import parse_config  # noqa: E402
from rating_terminal.app import Runtime  # noqa: E402
from rating_terminal.config import TerminalConfig  # noqa: E402
from tests.support.broker import Mosquitto  # noqa: E402

EXAMPLE = ROOT / "config" / "rating-terminal.toml"


class StampedPin(MockPin):
    """A MockPin that time-stamps every change of its state (perf_counter)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stamps: list[tuple[float, bool]] = []

    def _change_state(self, value):  # noqa: ANN001
        changed = super()._change_state(value)
        if changed:
            self.stamps.append((time.perf_counter(), bool(value)))
        return changed


def config_text(url: str, outbox: Path) -> str:
    return (EXAMPLE.read_text(encoding="utf-8")
            .replace('url = "mqtt://127.0.0.1:1883"', f'url = "{url}"')
            .replace('outbox = "/var/lib/motcua/rating-terminal/outbox.db"', f'outbox = "{outbox}"'))


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def start_collector(url: str, work: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NOTIFY_SOCKET", None)
    port = Mosquitto(work / "unused").port  # a free port for the dashboard
    proc = subprocess.Popen([sys.executable, "-m", "collector", "--broker", url, "--db", str(work / "collector.db"),
                             "--http", f"127.0.0.1:{port}", "--site", "+", "--client-id", "bench-collector"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3.0)
    return proc


def bench_in_process(url: str, work: Path, presses: int) -> dict[str, float]:
    cfg = parse_config(config_text(url, work / "outbox.db").replace("telemetry_interval_s = 60",
                                                                    "telemetry_interval_s = 0")
                       .replace("thanks_s = 1.5", "thanks_s = 0.1"),  # each press lights a dark LED
                       TerminalConfig, "bench.toml")
    factory = MockFactory(pin_class=StampedPin)
    rt = Runtime(cfg, pin_factory=factory)
    acks: list[float] = []
    orig = rt.client._mqtt.on_publish  # bench-only hook: time-stamp every PUBACK paho hands us

    def stamped(*a):  # noqa: ANN002, ANN202
        acks.append(time.perf_counter())
        return orig(*a)

    rt.client._mqtt.on_publish = stamped
    stored: list[float] = []
    assert rt.terminal is not None
    rt.terminal.when_stored = lambda data, done: stored.append(time.perf_counter())
    rt.start()
    assert rt.client.wait_connected(10), "terminal did not connect"
    time.sleep(0.5)
    buttons = {b.score: (b.pin, b.led) for b in cfg.rating.buttons}
    puback, acked, led_ms, durable, wire = [], [], [], [], []
    for i in range(presses):
        score = i % cfg.rating.scale + 1
        pin, led = buttons[score]
        led_pin = factory.pin(led)
        led_pin.stamps.clear()
        acks.clear()
        stored.clear()
        t0 = time.perf_counter()
        factory.pin(pin).drive_low()  # the callback thanks and queues the rating for the writer
        while not acks or rt.outbox.depth() > 0:
            time.sleep(0.0002)
        t_acked = time.perf_counter()
        t_durable = stored[0]
        on = [t for t, v in led_pin.stamps if v]
        if not on or not acks:
            raise RuntimeError(f"press {i}: led stamps {led_pin.stamps}, acks {acks}")
        led_ms.append((on[0] - t0) * 1000)
        puback.append((acks[0] - t0) * 1000)
        acked.append((t_acked - t0) * 1000)
        durable.append((t_durable - t0) * 1000)
        wire.append((acks[0] - t_durable) * 1000)
        factory.pin(pin).drive_high()
        time.sleep(0.04)  # beyond the 30 ms debounce window
    rss = psutil.Process().memory_info().rss / 1e6
    rt.stop(flush_s=1)
    return {
        "press_to_puback_p50_ms": round(statistics.median(puback), 2),
        "press_to_puback_p99_ms": round(pct(puback, 99), 2),
        "press_to_confirmed_p50_ms": round(statistics.median(acked), 2),
        "press_to_confirmed_p99_ms": round(pct(acked, 99), 2),
        "press_to_thanks_led_p50_ms": round(statistics.median(led_ms), 3),
        "press_to_thanks_led_p99_ms": round(pct(led_ms, 99), 3),
        "press_to_durable_p50_ms": round(statistics.median(durable), 2),
        "press_to_durable_p99_ms": round(pct(durable, 99), 2),
        "durable_to_puback_p50_ms": round(statistics.median(wire), 2),
        "durable_to_puback_p99_ms": round(pct(wire, 99), 2),
        "bench_process_rss_mb": round(rss, 1),
        "presses": presses,
    }


def bench_idle_process(url: str, work: Path, seconds: float) -> dict[str, float]:
    cfg = work / "sim.toml"
    cfg.write_text(config_text(url, work / "sim-outbox.db"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "rating_terminal", "--simulate", "--config", str(cfg),
                             "--broker", url, "--outbox", str(work / "sim-outbox.db")],
                            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        ps = psutil.Process(proc.pid)
        time.sleep(3.0)  # start-up and connect
        c0, w0 = sum(ps.cpu_times()[:2]), time.monotonic()
        time.sleep(seconds)
        c1, w1 = sum(ps.cpu_times()[:2]), time.monotonic()
        rss = ps.memory_info().rss / 1e6
        assert proc.stdin is not None
        proc.stdin.write("q\n")
        proc.stdin.flush()
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {"idle_cpu_ratio": round((c1 - c0) / (w1 - w0), 4), "rss_mb": round(rss, 1),
            "idle_window_s": seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description="rating terminal bench (see module docstring)",
                                 epilog="example: .venv/bin/python bench/rating_terminal.py --presses 300")
    ap.add_argument("--presses", type=int, default=300)
    ap.add_argument("--idle-s", type=float, default=10.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        with Mosquitto(work / "mosquitto") as broker:
            collector = start_collector(broker.url, work)
            try:
                res = bench_in_process(broker.url, work, args.presses)
            finally:
                collector.terminate()
                collector.wait(10)
            res.update(bench_idle_process(broker.url, work, args.idle_s))
    print(f"presses: {res['presses']}")
    print(f"press -> PUBACK         p50 {res['press_to_puback_p50_ms']} ms, p99 {res['press_to_puback_p99_ms']} ms (target p99 <= 30)")
    print(f"press -> stored and confirmed by the collector p50 {res['press_to_confirmed_p50_ms']} ms, "
          f"p99 {res['press_to_confirmed_p99_ms']} ms (target p99 <= 50)")
    print(f"  of which press -> on disk (outbox fsync) p50 {res['press_to_durable_p50_ms']} ms, "
          f"p99 {res['press_to_durable_p99_ms']} ms; on disk -> PUBACK p50 {res['durable_to_puback_p50_ms']} ms, "
          f"p99 {res['durable_to_puback_p99_ms']} ms")
    print(f"press -> thanks LED     p50 {res['press_to_thanks_led_p50_ms']} ms, p99 {res['press_to_thanks_led_p99_ms']} ms (must be < 100)")
    print(f"--simulate process: RSS {res['rss_mb']} MB (target <= 60), idle CPU {res['idle_cpu_ratio'] * 100:.2f}% of a core "
          f"over {res['idle_window_s']} s (target <= 2%)")
    print(f"bench process RSS {res['bench_process_rss_mb']} MB")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
