"""Runs the real hall display window in its own process (one Kivy Window per process).

    python tests/display/window_driver.py --config display.toml --expect 1023 \
        --shot out.png --result out.json [--timeout 40]

Connects to the broker named in the config, waits until the screen shows the expected ticket
(from retained state alone), takes a screenshot, closes, and writes JSON: every label text, the
window size, the screenshot path, the calls announced and the voice files rendered.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--expect", required=True, help="ticket that must appear as the current call")
    ap.add_argument("--shot", required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--timeout", type=float, default=40.0)
    ap.add_argument("--live", metavar="TICKET:DESK",
                    help="after the screenshot, publish this call as ticketing would and wait for it")
    ap.add_argument("--pages", action="store_true", help="after the screenshot, show every page of waiting cards")
    ap.add_argument("--closed", action="store_true",
                    help="wait for the break/closed screen (state/hours) instead of --expect; after the "
                         "screenshot publish state/hours open and wait for --expect")
    args = ap.parse_args()

    from common.config import load_config
    from common.logs import setup_logging
    from kiosk.display.config import DisplayConfig

    setup_logging("INFO")
    cfg = load_config(args.config, DisplayConfig)

    from kiosk.display.app import HallDisplayApp, configure_window

    configure_window(cfg.screen)
    from kivy.clock import Clock

    from mqtt.client import DeviceClient

    client = DeviceClient(cfg.site, cfg.device, "display", cfg.mqtt)
    app = HallDisplayApp(cfg, client=client)
    result: dict = {"ok": False, "timeout": False}
    t0 = time.monotonic()

    def snap(_dt: float) -> None:
        from kivy.core.window import Window

        shot = Path(args.shot)
        shot.parent.mkdir(parents=True, exist_ok=True)
        made = Window.screenshot(name=str(shot.with_name(shot.stem + "-raw.png")))  # Kivy appends 0001
        Path(made).replace(shot)
        result.update(ok=not args.live and not args.closed, shot=str(shot), window_size=list(Window.size),
                      labels=app.screen.labels())
        if args.closed:
            result["text_check"] = app.screen.text_check()
            threading.Thread(target=publish_open, daemon=True).start()
            Clock.schedule_interval(poll_open, 0.05)
            return
        if args.pages:
            result["pages_seen"], result["text_checks"] = [], []

            def page(i: int) -> None:  # one page per frame step, after Kivy laid it out
                result["pages_seen"].append(app.screen.labels()["waiting"])
                result["text_checks"].append(app.screen.text_check())
                if i:
                    made = Window.screenshot(name=str(shot.with_name(f"{shot.stem}-page{i + 1}-raw.png")))
                    Path(made).replace(shot.with_name(f"{shot.stem}-page{i + 1}.png"))
                if i + 1 < app.screen.pages:
                    app.screen.next_page()
                    Clock.schedule_once(lambda _dt: page(i + 1), 0.3)
                else:
                    app.stop()

            page(0)
            return
        if not args.live:
            app.stop()
            return
        threading.Thread(target=publish_live, daemon=True).start()
        Clock.schedule_interval(poll_live, 0.05)

    def publish_live() -> None:
        """Ticketing's part: the retained calls state with the new call first."""
        from common.clock import SystemClock
        from mqtt import topics
        from mqtt.schemas import Call, CallsState
        from tests.support.mqtt import Recorder

        ticket, desk = args.live.split(":")
        view = app.model.view()
        old = [Call(ticket=c.ticket, desk=c.desk, service=c.service, at=c.at, recall=c.recall)
               for c in [view.current, *view.recent] if c is not None]
        now = SystemClock().now()
        rec = Recorder(cfg.mqtt.endpoint()[1], topics.status_filter(cfg.site))
        result["live_published_at"] = time.monotonic()
        rec.publish(topics.state(cfg.site, "calls"),
                    CallsState(calls=[Call(ticket=ticket, desk=int(desk), service="HT", at=now), *old], ts=now).dumps(),
                    retain=True)
        rec.close()

    def publish_open() -> None:
        """Ticketing's part at 13:30: the retained hours state says open again."""
        from mqtt import topics
        from mqtt.schemas import HoursState
        from tests.support.mqtt import Recorder

        rec = Recorder(cfg.mqtt.endpoint()[1], topics.status_filter(cfg.site))
        rec.publish(topics.state(cfg.site, "hours"), HoursState(status="open").dumps(), retain=True)
        rec.close()

    def poll_open(_dt: float) -> bool:
        if app.screen.ticket == args.expect and not app.screen.closed:
            result.update(ok=True, open_labels=app.screen.labels())
            app.stop()
            return False
        return True

    def poll_live(_dt: float) -> bool:
        if app.screen.ticket == args.live.split(":")[0]:
            result["live_shown_after_ms"] = round((time.monotonic() - result["live_published_at"]) * 1000)
            result.update(ok=True, live_labels=app.screen.labels())
            app.stop()
            return False
        return True

    def poll(_dt: float) -> bool:
        s = app.screen
        shown = (getattr(s, "closed", False) and not s.ticket) if args.closed and s is not None else (s is not None and s.ticket == args.expect)
        if s is not None and shown and s.ids.waiting_box.children:
            result["shown_after_s"] = round(time.monotonic() - t0, 3)
            Clock.schedule_once(snap, 1.0)  # let textures and the first blink frame settle
            return False
        return True

    def give_up(_dt: float) -> None:
        if not result["ok"]:
            result.update(timeout=True, labels=app.screen.labels() if app.screen else {})
            app.stop()

    Clock.schedule_interval(poll, 0.1)
    Clock.schedule_once(give_up, args.timeout)
    app.run()  # on_stop closes the client and the announcer (which finishes queued clips first)
    result["announced"] = [[c.ticket, c.desk] for c in app.announced]
    result["rendered"] = [str(p) for p in app.announcer.rendered]
    result["speaks"] = app.announcer.speaks
    Path(args.result).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
