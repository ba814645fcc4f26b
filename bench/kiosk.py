"""Kiosk bench: tap -> ticket bytes handed to the printer (real Kivy window, offscreen), ticket
render time, bytes per ticket (58 and 80 mm; a python-escpos profile with fonts and QR, and
raster-only) and the time to send them over a serial line at 9,600 / 19,200 / 115,200 baud,
app cold start, RSS. Last line: one JSON object.

Numbers are taken online at each tap (request ``number``) from a real ticketing (in this
process, same clock) over a private Mosquitto, as a kiosk does while ticketing is reachable;
``--leases`` measures the offline path (numbers from a lease) instead, for comparison.

    .venv/bin/python bench/kiosk.py [--taps 60] [--leases]
"""
from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-bench-"))


OLD_80MM = 71_020  # bytes of the one-raster 80 mm ticket before issue 21 (measured then)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class OnlineTicketing:
    """A real ticketing Server (Queue on SQLite, same fake clock as the kiosk) on a private
    Mosquitto, and the kiosk's ClientLeaseSource over its own DeviceClient."""

    def __init__(self, tmp: Path, clock) -> None:  # noqa: ANN001
        from kiosk.issuer import ClientLeaseSource
        from mqtt.client import BrokerConfig, DeviceClient
        from mqtt.outbox import Outbox
        from tests.kiosk.helpers import SERVICES
        from tests.support.broker import Mosquitto
        from ticketing.config import SiteConfig
        from ticketing.queue import Queue
        from ticketing.server import Server

        site = SiteConfig.model_validate({
            "site": "camau-hcc", "name_vi": "Trung tâm đo", "name_en": "Bench centre",
            "services": [{"code": c, "name_vi": vi, "name_en": en, "prefix": p, "range_start": a, "range_end": b,
                          "capacity": b - a + 1, "target_wait_min": 15} for c, vi, en, p, a, b in SERVICES],
            "desks": [{"number": 1, "services": [c for c, *_ in SERVICES]}]})
        self.broker = Mosquitto(tmp / "mosquitto")
        self.broker.start()
        url = BrokerConfig(url=self.broker.url)
        self.queue = Queue(tmp / "ticketing.db", site, clock=clock)
        self.outbox = Outbox(tmp / "ticketing-outbox.db", "camau-hcc", "ticketing", clock=clock)
        self.tk = DeviceClient("camau-hcc", "ticketing", "ticketing", url, outbox=self.outbox, clock=clock,
                               telemetry_interval_s=0)
        self.server = Server(self.queue, self.tk, self.outbox, clock)
        self.server.start()
        self.client = DeviceClient("camau-hcc", "kiosk-1", "kiosk", url, clock=clock, telemetry_interval_s=0)
        self.client.start()
        assert self.tk.wait_connected(10) and self.client.wait_connected(10)
        time.sleep(0.3)  # subscriptions acknowledged
        self.source = ClientLeaseSource(self.client)

    def stop(self) -> None:
        self.client.stop()
        self.server.stop()
        self.outbox.close()
        self.queue.close()
        self.broker.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--taps", type=int, default=60)
    ap.add_argument("--leases", action="store_true", help="issue from leases (ticketing unreachable)")
    args = ap.parse_args()

    from kivy.config import Config

    Config.set("graphics", "width", "1024")
    Config.set("graphics", "height", "600")
    from kivy.base import EventLoop
    from kivy.tests.common import UnitTestTouch

    import psutil
    from kiosk.app import KioskApp
    from kiosk.printer import TicketPrinter
    from kiosk.runtime import build
    from kiosk.ticket_bytes import Capabilities, TicketRenderer
    from escpos.printer import Dummy
    from tests.kiosk.helpers import FakeLeaseSource, fake_clock, kiosk_config, service_state, site_state

    handed: list[float] = []

    class TimedDummy(Dummy):
        def _raw(self, msg: bytes) -> None:
            if msg.startswith(b"\x1b@") and len(handed) < stamp_count[0]:
                handed.append(time.perf_counter())
            super()._raw(msg)

    stamp_count = [0]
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    cfg = kiosk_config(tmp, lease_size=1000, lease_low=10)
    dummy = TimedDummy()
    dummy.profile.profile_data = {**dummy.profile.profile_data, "media": {"width": {"pixels": 576}}}
    clock = fake_clock()
    online = None if args.leases else OnlineTicketing(tmp, clock)
    kiosk = build(cfg, clock=clock, source=online.source if online else FakeLeaseSource(), connect=False,
                  printer=TicketPrinter(dummy, 576))
    kiosk.state.set_site(site_state())
    for code in ("HT", "DD", "KD", "TP"):
        kiosk.state.set_service(service_state(code, 5, 1500.0))
    app = KioskApp(kiosk.controller, printer_poll_s=60)
    app._run_prepare()
    EventLoop.idle()
    cold_ms = (time.perf_counter() - T_START) * 1000

    def tap(w) -> None:  # noqa: ANN001
        x, y = w.to_window(*w.center)
        t = UnitTestTouch(x, y)
        t.touch_down()
        t.touch_up()

    sm = app.root.ids.sm
    c = kiosk.controller
    taps: list[float] = []
    for i in range(args.taps):
        btn = next(b for b in sm.get_screen("home").ids.services.children if b.code == "HT")
        tap(btn)
        EventLoop.idle()
        assert sm.current == "options", sm.current
        stamp_count[0] = i + 1
        t0 = time.perf_counter()
        tap(sm.get_screen("options").ids.normal)
        job = c.wait_printed(5)
        assert job is not None and job.status == "printed", job
        taps.append((handed[i] - t0) * 1000)
        EventLoop.idle()
        EventLoop.idle()
        tap(sm.get_screen("confirm").ids.done)
        for _ in range(3):  # the home buttons are rebuilt (new waiting counts) and laid out
            EventLoop.idle()
    issued = len(kiosk.issuer.tickets())
    assert issued == args.taps, (issued, args.taps)
    offline_tickets = sum(1 for r in kiosk.store.query("SELECT offline FROM ticket") if r[0])
    assert args.leases or offline_tickets == 0, f"{offline_tickets} numbers came from leases, not online"

    content = c.printing.content(c.job.ticket)
    renderer = kiosk.printer.renderer()
    renders = []
    for i in range(30):  # as tickets come: another number, count and wait each time (labels cached)
        one = dataclasses.replace(content, ticket=str(5000 + i), people_ahead=i, est_wait_s=60.0 * i)
        t = time.perf_counter()
        renderer.encode(one)
        renders.append((time.perf_counter() - t) * 1000)
    sizes = {}
    for width, mm in ((576, 80), (384, 58)):
        for name, profile, mode in (("profile", "TM-T20II", "auto"), ("raster", "simple", "raster")):
            caps = Capabilities.from_profile(Dummy(profile=profile).profile, width, mode)
            sizes[f"{name}_{mm}"] = len(TicketRenderer(width, caps).encode(content))
    rss = psutil.Process().memory_info().rss / 1e6
    app.stop()
    kiosk.stop()
    if online is not None:
        online.stop()
    res = {"numbers": "leases" if args.leases else "online", "tap_to_printer_p50_ms": round(pct(taps, 50), 1), "tap_to_printer_p95_ms": round(pct(taps, 95), 1),
           "ticket_render_p50_ms": round(pct(renders, 50), 1), "ticket_render_p95_ms": round(pct(renders, 95), 1),
           "app_cold_start_ms": round(cold_ms, 1), "rss_mb": round(rss, 1), "taps": args.taps,
           "ticket_bytes": len(dummy.output) // max(1, args.taps),
           "ticket_bytes_80mm": sizes["profile_80"], "ticket_bytes_58mm": sizes["profile_58"],
           "ticket_bytes_80mm_raster": sizes["raster_80"], "ticket_bytes_58mm_raster": sizes["raster_58"],
           "ticket_bytes_80mm_before": OLD_80MM}
    for baud in (9600, 19200, 115200):  # 8N1: 10 bits on the wire per byte
        res[f"send_80mm_{baud}_s"] = round(sizes["profile_80"] * 10 / baud, 2)
        res[f"send_80mm_raster_{baud}_s"] = round(sizes["raster_80"] * 10 / baud, 2)
        res[f"send_58mm_{baud}_s"] = round(sizes["profile_58"] * 10 / baud, 2)
    out = sys.__stdout__
    print(f"numbers: {res['numbers']}", file=out)
    print(f"tap -> ticket bytes to printer: p50 {res['tap_to_printer_p50_ms']} ms, p95 {res['tap_to_printer_p95_ms']} ms"
          f" (target p95 <= 150 ms) over {args.taps} taps", file=out)
    print(f"ticket encode (576 px, fonts+QR profile, varying numbers): p50 {res['ticket_render_p50_ms']} ms, p95 {res['ticket_render_p95_ms']} ms", file=out)
    print(f"app cold start {res['app_cold_start_ms']} ms, RSS {res['rss_mb']} MB", file=out)
    for mm in (80, 58):
        p, r = res[f"ticket_bytes_{mm}mm"], res[f"ticket_bytes_{mm}mm_raster"]
        print(f"ticket {mm} mm: {p} bytes with fonts+QR (TM-T20II profile), {r} bytes raster-only", file=out)
    print(f"80 mm before this renderer: {OLD_80MM} bytes; now {OLD_80MM / res['ticket_bytes_80mm']:.1f}x fewer "
          f"(raster-only {OLD_80MM / res['ticket_bytes_80mm_raster']:.1f}x)", file=out)
    for baud in (9600, 19200, 115200):
        print(f"send at {baud} baud (the line's limit, 10 bits/byte): 80 mm {res[f'send_80mm_{baud}_s']} s "
              f"(raster-only {res[f'send_80mm_raster_{baud}_s']} s, before {OLD_80MM * 10 / baud:.1f} s), "
              f"58 mm {res[f'send_58mm_{baud}_s']} s", file=out)
    print(json.dumps(res), file=out, flush=True)
    return 0


if __name__ == "__main__":
    OUT = sys.__stdout__  # Kivy's logger may take over sys.stdout/sys.stderr
    try:
        main()
    except BaseException:
        import traceback

        traceback.print_exc(file=sys.__stderr__)
        raise SystemExit(1)
