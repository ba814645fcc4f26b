"""Runs the real kiosk window (offscreen SDL2) in its own process and drives it with
UnitTestTouch. Usage: ui_driver.py SCENARIO OUT_JSON SHOT_DIR STATE_DIR [BROKER_URL]

Writes a JSON object with what the screens showed, the outbox events and screenshot paths."""
from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kivy.config import Config  # noqa: E402

_W, _H = os.environ.get("KIOSK_WINDOW", "1024x600").split("x")
Config.set("graphics", "width", _W)
Config.set("graphics", "height", _H)
Config.set("graphics", "fullscreen", "0")
Config.set("kivy", "exit_on_escape", "0")

from kivy.base import EventLoop  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402

from kiosk.app import KioskApp  # noqa: E402
from kiosk.runtime import build  # noqa: E402
from tests.kiosk.helpers import (FakeLeaseSource, fake_clock, kiosk_config, many_services,  # noqa: E402
                                 service_state, site_state)


class Driver:
    def __init__(self, app: KioskApp, shots: Path, name: str):
        self.app = app
        self.shots = shots
        self.name = name
        self.result: dict = {"screens": [], "shots": []}

    def pump(self, n: int = 3) -> None:
        for _ in range(n):
            EventLoop.idle()

    def tap(self, widget) -> None:  # noqa: ANN001
        x, y = widget.to_window(*widget.center)
        t = UnitTestTouch(x, y)
        t.touch_down()
        self.pump(1)
        t.touch_up()
        self.pump(2)

    @property
    def sm(self):  # noqa: ANN201
        return self.app.root.ids.sm

    def ids(self, screen: str):  # noqa: ANN201
        return self.sm.get_screen(screen).ids

    def service_button(self, code: str):  # noqa: ANN201
        return next(b for b in self.ids("home").services.children if b.code == code)

    def shot(self, label: str) -> str:
        self.pump(2)
        self.shots.mkdir(parents=True, exist_ok=True)
        base = self.shots / f"{self.name}-{label}.png"
        made = Window.screenshot(name=str(self.shots / f"{self.name}-{label}-%(counter)s.png"))
        if made:
            Path(made).replace(base)
        self.result["shots"].append(str(base))
        self.result["screens"].append({"label": label, "screen": self.sm.current})
        return str(base)


def events(kiosk) -> list[dict]:  # noqa: ANN001
    return [json.loads(r.payload) for r in kiosk.outbox.fetch(0, 1000)]


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


def main() -> int:
    errors = _Errors()
    logging.getLogger("kiosk").addHandler(errors)
    scenario, out, shots, state_dir = sys.argv[1:5]
    broker = sys.argv[5] if len(sys.argv) > 5 else None
    t0 = time.perf_counter()
    result: dict = {"scenario": scenario}
    kiosk = None
    try:
        cfg = kiosk_config(Path(state_dir), idle_timeout_s=10)
        if scenario == "paper_out":
            cfg.printer.kind = "serial"
            cfg.printer.port = os.environ["KIOSK_PRINTER_PORT"]
            cfg.printer.status_timeout_s = 1.0
        clock = fake_clock()
        source = FakeLeaseSource(online=scenario != "offline")
        if broker:
            cfg.mqtt.url = broker
            kiosk = build(cfg, clock=clock)
            kiosk.start()
            assert kiosk.client is not None and kiosk.client.wait_connected(10), "no broker"
            deadline = time.monotonic() + 10
            while kiosk.state.site is None and time.monotonic() < deadline:
                time.sleep(0.05)
        else:
            kiosk = build(cfg, clock=clock, source=source, connect=False)
            closed = [clock.now().date().isoformat()] if scenario == "closed_day" else []
            n_services = int(os.environ.get("KIOSK_SERVICES", "0"))
            kiosk.state.set_site(many_services(n_services) if n_services else site_state(closed_days=closed))
            for i in range(n_services):
                kiosk.state.set_service(service_state(f"S{i:02d}", i % 7, 300.0 * (i % 7)))
            for code, waiting, est, fin in (("HT", 4, 1200.0, False), ("DD", 0, 0.0, False),
                                            ("KD", 12, 3600.0, False), ("TP", 2, 600.0, False)):
                kiosk.state.set_service(service_state(code, waiting, est, fin or scenario == "finished"))
            if scenario == "offline":  # a lease was taken while online, then the server went away
                source.online = True
                kiosk.issuer.top_up("HT")
                source.online = False
        if scenario == "closed":
            clock.set(clock.now().replace(hour=12, minute=10))
        if scenario in ("lunch", "after_hours"):  # ticketing's retained state/hours
            from tests.kiosk.test_hours import BREAK, CLOSED

            clock.set(clock.now().replace(hour=12, minute=10) if scenario == "lunch" else
                      clock.now().replace(hour=17, minute=20))
            kiosk.state.set_hours(BREAK if scenario == "lunch" else CLOSED)
        app = KioskApp(kiosk.controller, printer_poll_s=60)
        app._run_prepare() if hasattr(app, "_run_prepare") else None
        result["cold_start_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        d = Driver(app, Path(shots), scenario)
        d.result = {**result, **d.result}
        d.pump(5)
        c = kiosk.controller
        r = d.result
        if scenario in ("flow", "offline", "broker"):
            d.shot("home")
            r["home_buttons"] = [b.text for b in reversed(d.ids("home").services.children)]
            r["offline_marker"] = app.root.ids.offline.text
            d.tap(d.service_button("HT"))
            r["after_service"] = d.sm.current
            d.shot("options")
            d.tap(d.ids("options").normal)
            c.wait_printed(5)
            app.refresh()
            r["after_priority"] = d.sm.current
            ids = d.ids("confirm")
            r["confirm"] = {"number": ids.number.text, "service": ids.service.text, "details": ids.details.text,
                            "status": ids.status.text, "your": ids.your_number.text}
            d.shot("confirm")
            d.tap(ids.done)
            r["after_done"] = d.sm.current
            if scenario == "flow":
                # priority, then English, then the appointment code
                d.tap(d.service_button("DD"))
                d.tap(d.ids("options").elderly)
                c.wait_printed(5)
                app.refresh()
                r["elderly_confirm"] = {"number": d.ids("confirm").number.text,
                                        "service": d.ids("confirm").service.text}
                d.shot("confirm-elderly")
                d.tap(d.ids("confirm").done)
                d.tap(app.root.ids.lang)
                d.shot("home-en")
                r["home_en_title"] = d.ids("home").title.text
                d.tap(d.service_button("KD"))
                d.tap(d.ids("options").appointment)
                r["after_appointment"] = d.sm.current
                for digit in "20261":
                    key = next(k for k in d.ids("appointment").pad.children if k.text == digit)
                    d.tap(key)
                r["code_shown"] = d.ids("appointment").code.text
                d.shot("appointment")
                d.tap(d.ids("appointment").ok)
                c.wait_printed(5)
                app.refresh()
                r["appointment_confirm"] = {"number": d.ids("confirm").number.text,
                                            "status": d.ids("confirm").status.text, "screen": d.sm.current}
                d.shot("confirm-appointment-en")
                # idle: no tap for longer than the idle timeout
                clock.advance(11)
                app._tick(1.0)
                d.pump(2)
                r["after_idle"] = d.sm.current
                r["lang_after_idle"] = c.lang
                d.shot("home-after-idle")
        elif scenario == "paper_out":
            d.tap(d.service_button("HT"))
            d.tap(d.ids("options").normal)
            c.wait_printed(5)
            app.refresh()
            ids = d.ids("confirm")
            r["confirm"] = {"number": ids.number.text, "status": ids.status.text, "reprint": ids.reprint.text,
                            "screen": d.sm.current}
            d.shot("confirm-paper-out")
            d.tap(ids.done)
            r["banner"] = app.root.ids.banner.text
            d.shot("home-printer-problem")
        elif scenario == "many":
            r["pages"] = []
            for page in range(10):
                grid = d.ids("home").services
                buttons = list(reversed(grid.children))
                r["pages"].append({
                    "codes": [b.code for b in buttons], "label": d.ids("home").page.text,
                    "overflow": [b.code for b in buttons if b.texture_size[1] > b.height + 1
                                 or b.texture_size[0] > b.width + 1],
                    "min_button": [round(min((b.width for b in buttons), default=0)),
                                   round(min((b.height for b in buttons), default=0))],
                    "font_px": round(buttons[0].font_size) if buttons else 0,
                    "inside": all(grid.x - 1 <= b.x and b.right <= grid.right + 1 and grid.y - 1 <= b.y
                                  and b.top <= grid.top + 1 for b in buttons)})
                d.shot(f"page{page + 1}")
                if not app.view.has_next:
                    break
                d.tap(d.ids("home").next)
            groups = list(reversed(d.ids("home").groups.children))
            r["groups"] = [g.text for g in groups]
            if len(groups) > 2:
                d.tap(groups[2])
                r["group_codes"] = [b.code for b in reversed(d.ids("home").services.children)]
                r["group_page"] = d.ids("home").page.text
                d.shot("group")
                d.tap(d.service_button(r["group_codes"][0]))
                r["after_group_tap"] = d.sm.current
        elif scenario in ("closed", "closed_day"):
            d.shot("closed")
            r["headline"] = d.ids("closed").headline.text
            r["detail"] = d.ids("closed").detail.text
            d.tap(app.root.ids.lang)
            r["headline_en"] = d.ids("closed").headline.text
        elif scenario == "lunch":
            d.shot("home-break")
            r["screen"], r["hours_banner"] = d.sm.current, app.root.ids.hours.text
            r["home_buttons"] = [b.text for b in reversed(d.ids("home").services.children)]
            d.tap(d.service_button("HT"))
            d.tap(d.ids("options").normal)
            c.wait_printed(5)
            app.refresh()
            r["after_priority"] = d.sm.current
            r["details"] = d.ids("confirm").details.text
            d.shot("confirm-break")
        elif scenario == "after_hours":
            d.shot("closed-after-hours")
            r["screen"], r["hours_banner"] = d.sm.current, app.root.ids.hours.text
            r["headline"], r["detail"] = d.ids("closed").headline.text, d.ids("closed").detail.text
            d.tap(app.root.ids.lang)
            r["headline_en"], r["detail_en"] = d.ids("closed").headline.text, d.ids("closed").detail.text
            d.shot("closed-after-hours-en")
        elif scenario == "finished":
            d.shot("finished")
            r["headline"] = d.ids("finished").headline.text
        elif scenario == "error":
            d.tap(d.service_button("HT"))

            def boom(*_a, **_k):  # noqa: ANN001, ANN202
                raise RuntimeError("simulated bug in issuing")

            kiosk.issuer.issue = boom
            d.tap(d.ids("options").normal)
            r["after_error"] = d.sm.current
            r["banner"] = app.root.ids.banner.text
            d.shot("error")
        r["events"] = events(kiosk)
        r["tickets"] = kiosk.issuer.tickets()
        result = r
        app.stop()
    except Exception:  # noqa: BLE001 - report to the test instead of dying silently
        result["error"] = traceback.format_exc()
    finally:
        if kiosk is not None:
            try:
                kiosk.stop()
            except Exception:  # noqa: BLE001
                result.setdefault("stop_error", traceback.format_exc())
    result["logged_errors"] = errors.records
    Path(out).write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str))
    return 0


if __name__ == "__main__":
    os._exit(main())
