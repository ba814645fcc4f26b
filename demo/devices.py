"""The simulated devices of the demo, in one process, each through its role's own code:

- 8 desk terminals (rating_terminal.Runtime on gpiozero's MockFactory): the simulator presses
  their pins (call next, recall, no-show, finish, rating buttons) and swipes badges;
- 2 kiosks (kiosk.runtime.build, headless, a python-escpos Dummy printer): the simulator taps
  the same controller the touchscreen drives;
- 2 camera agents (camera_agent.CameraAgent with its real detector) watching synthetic frames in
  which the simulated officers and citizens sit.

Run by ``motcua demo``; stops cleanly on SIGTERM, flushing every outbox.
"""
from __future__ import annotations

import argparse
import logging
import queue
import signal
import sys
import threading
import time
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from camera_agent.agent import CameraAgent, MqttSink
from camera_agent.config import CameraAgentConfig
from common.clock import SystemClock
from common.logs import setup_logging
from kiosk.config import KioskConfig
from kiosk.runtime import Kiosk, build as build_kiosk
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox
from mqtt.schemas import Response
from rating_terminal.app import Runtime
from rating_terminal.config import TerminalConfig

from .cameras import DeskGridCamera
from .model import Arrival, DayModel, OfficerDay, away

log = logging.getLogger("demo.devices")
ROOT = Path(__file__).resolve().parent.parent
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _secs(hhmm: str) -> float:
    h, m = hhmm.split(":")
    return int(h) * 3600 + int(m) * 60


class SimDesk:
    """One desk: an officer who signs in with a badge, calls, serves, steps away; citizens who
    sit down and press a rating button. Runs in its own thread."""

    def __init__(self, centre: "Centre", desk: int, runtime: Runtime, factory: MockFactory):
        self.c = centre
        self.desk = desk
        self.rt = runtime
        self.factory = factory
        self.cfg = runtime.config
        self.answers: queue.Queue[tuple[str, Response | None]] = queue.Queue()
        runtime.terminal.when_answered = lambda op, resp: self.answers.put((op, resp))
        self.officer: OfficerDay | None = None
        self.signed_in = False
        self.state = "idle"
        self.until = 0.0
        self.next_try = 0.0
        self.away_until = 0.0
        self.recalled = False
        self.thread = threading.Thread(target=self.loop, name=f"desk-{desk}", daemon=True)

    # -- the hardware, as a person would use it --------------------------------------------------

    def press(self, pin: int) -> None:
        p = self.factory.pin(pin)
        p.drive_low()
        time.sleep(0.05)
        p.drive_high()
        time.sleep(0.02)

    def key(self, op: str) -> None:
        while not self.answers.empty():
            self.answers.get_nowait()
        self.press(self.cfg.hardware.keys.by_op()[op])

    def rate(self, score: int) -> None:
        pin = next(b.pin for b in self.cfg.rating.buttons if b.score == score)
        self.press(pin)

    def answer(self, timeout: float = 8.0) -> Response | None:
        end = time.monotonic() + timeout
        while not self.c.stopping.is_set() and time.monotonic() < end:
            try:
                return self.answers.get(timeout=0.1)[1]
            except queue.Empty:
                continue
        return None

    # -- the day -----------------------------------------------------------------------------------

    def step(self, t: float) -> None:
        o = self.officer
        if o is None:
            return
        terminal = self.rt.terminal
        if not self.signed_in and o.arrive_s <= t < o.leave_s:
            terminal.badge(o.badge)
            self.signed_in = True
        elif self.signed_in and t >= o.leave_s and self.state == "idle":
            terminal.badge(o.badge)
            self.signed_in = False
        at_desk = self.signed_in and (self.state != "idle" or (not away(o, t) and t >= self.away_until))
        self.c.see(self.desk, "officer", at_desk)
        if not at_desk:
            return
        if self.state == "idle" and t >= self.next_try and self.c.is_open(t):
            self.key("call-next")
            resp = self.answer()
            if resp is not None and resp.ok and resp.ticket is not None:
                if self.c.model.no_show():
                    self.state, self.until, self.recalled = "no_show", t + 120, False
                else:
                    self.state = "serving"
                    self.until = t + 45 + self.c.model.service_seconds(resp.ticket.service)
                    self.citizen_at = t + 45
            else:
                self.next_try = t + 60
        elif self.state == "serving":
            if t >= getattr(self, "citizen_at", t):
                self.c.see(self.desk, "citizen", True)
            if t >= self.until:
                self.key("finish")
                self.answer()
                self.state, self.until = "rating", t + self.c.rng_uniform(5, 20)
        elif self.state == "rating" and t >= self.until:
            score = self.c.model.rating()
            if score is not None:
                self.rate(score)
                if self.c.model.double_press():
                    self.rate(score)
            self.c.see(self.desk, "citizen", False)
            self.state = "idle"
            step = self.c.model.steps_away()
            if step:
                self.away_until = t + step
        elif self.state == "no_show":
            if not self.recalled and t >= self.until - 60:
                self.key("recall")
                self.answer()
                self.recalled = True
            elif t >= self.until:
                self.key("no-show")
                self.answer()
                self.state = "idle"

    def loop(self) -> None:
        while not self.c.stopping.is_set():
            try:
                self.step(self.c.sim_seconds())
            except Exception:  # noqa: BLE001 - a simulated person must not end the demo
                log.exception("desk %d simulation step failed", self.desk)
            self.c.stopping.wait(0.05)


class Centre:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = Path(args.workdir)
        self.clock = SystemClock()
        self.stopping = threading.Event()
        site = tomllib.loads(Path(args.site_config).read_text(encoding="utf-8"))
        self.site = args.site
        self.hours: dict[str, list[tuple[str, str]]] = site.get("hours", {})
        self.closed_days = set(site.get("closed_days", []))
        self.services = [s["code"] for s in site["services"]]
        self.desk_services = {d["number"]: d["services"] for d in site["desks"]}
        self.broker = BrokerConfig(url=args.broker)
        self.model = DayModel(args.seed, self.services, self.desk_services)
        self.day: date | None = None
        self.arrivals: list[Arrival] = []
        self.cameras: list[DeskGridCamera] = []
        self.camera_of: dict[int, DeskGridCamera] = {}
        self.desks: list[SimDesk] = []
        self.kiosks: list[Kiosk] = []
        self.agents: list[tuple[CameraAgent, DeviceClient, Outbox, threading.Thread]] = []
        self.agent_stop = threading.Event()
        self.issued = 0

    # -- time ----------------------------------------------------------------------------------------


    def qr_settings(self) -> dict[str, Any]:
        """With the portal's secret, tickets carry the portal's link ({portal}/ve/{token})."""
        if not self.args.ticket_secret_file:
            return {}
        secret = Path(self.args.ticket_secret_file).read_text(encoding="utf-8").strip()
        return {"qr_template": "{portal}/ve/{token}", "ticket_secret": secret}
    def sim_now(self) -> datetime:
        return self.clock.now()

    def sim_seconds(self) -> float:
        n = self.sim_now()
        return n.hour * 3600 + n.minute * 60 + n.second + n.microsecond / 1e6

    def is_open(self, t: float) -> bool:
        today = self.sim_now().date()
        if today.isoformat() in self.closed_days:
            return False
        return any(_secs(a) <= t < _secs(b) for a, b in self.hours.get(DAYS[today.weekday()], []))

    def rng_uniform(self, a: float, b: float) -> float:
        return self.model.rng.uniform(a, b)

    def see(self, desk: int, role: str, present: bool) -> None:
        cam = self.camera_of.get(desk)
        if cam is not None:
            cam.set(desk, role, present)

    # -- building the devices through their own code ------------------------------------------------

    def build(self) -> None:
        speed = self.args.speed
        template = tomllib.loads((ROOT / "config" / "rating-terminal.toml").read_text(encoding="utf-8"))
        for desk in sorted(self.desk_services)[:8]:
            raw: dict[str, Any] = {**template, "site": self.site, "device": f"rt-{desk:02d}", "desk": desk,
                                   "outbox": str(self.work / f"rt-{desk:02d}" / "outbox.db"),
                                   "telemetry_interval_s": 30, "mqtt": {"url": self.args.broker}}
            raw["rating"] = {**template["rating"], "misuse_window_s": round(5.0 / speed, 3)}
            raw.pop("display", None)
            # a badge reader on a loopback port; the simulator swipes through the same callback
            raw["badge"] = {"port": "loop://", "cards": {f"CARD{desk:04d}": f"nv-{100 + desk:04d}"},
                            "unknown_cards": "reject"}
            cfg = TerminalConfig.model_validate(raw)
            factory = MockFactory()
            rt = Runtime(cfg, pin_factory=factory, clock=self.clock, reconnect_max_s=2.0)
            self.desks.append(SimDesk(self, desk, rt, factory))
        for i in (1, 2):
            kcfg = KioskConfig.model_validate({
                "mqtt": {"url": self.args.broker},
                "kiosk": {"site": self.site, "device": f"kiosk-{i}", "state_dir": str(self.work / f"kiosk-{i}"),
                          "lease_size": 20, "lease_low": 5, **self.qr_settings()},
                "printer": {"kind": "dummy", "width_mm": 80}})
            self.kiosks.append(build_kiosk(kcfg, clock=self.clock, print_async=False))
        desks = sorted(self.desk_services)[:8]
        for i, group in enumerate((desks[:4], desks[4:8]), 1):
            if not group:
                continue
            cam = DeskGridCamera(group, seed=self.args.seed * 100 + i)
            self.cameras.append(cam)
            for d in group:
                self.camera_of[d] = cam
            device = f"cam-{i:02d}"
            acfg = CameraAgentConfig.model_validate({
                    "site": self.site, "device": device, "state_dir": str(self.work / device),
                    "snapshot_path": str(self.work / device / "calibration.png"),
                    "mqtt": {"url": self.args.broker},
                    "source": {"uri": "demo", "fps": 4.0},
                    "hold": {"enter_s": 0.5, "leave_s": 1.0},
                    "report": {"summary_interval_s": 30.0, "telemetry_interval_s": 30.0},
                    "desks": cam.zones()})
            outbox = Outbox(self.work / device / "outbox.db", self.site, device, clock=self.clock)
            agent: CameraAgent | None = None
            client = DeviceClient(self.site, device, "camera-agent", self.broker, outbox=outbox, clock=self.clock,
                                  telemetry_interval_s=30,
                                  telemetry_extra=lambda: agent.telemetry_extra() if agent else {})
            agent = CameraAgent(acfg, cam, self.clock, MqttSink(client, outbox))
            th = threading.Thread(target=agent.run, args=(self.agent_stop,), name=device, daemon=True)
            self.agents.append((agent, client, outbox, th))

    def start(self) -> None:
        for d in self.desks:
            d.rt.start()
        for k in self.kiosks:
            k.start()
        for _agent, client, _ob, th in self.agents:
            client.start()
            th.start()
        for d in self.desks:
            d.thread.start()

    # -- citizens ------------------------------------------------------------------------------------

    def plan_day(self, day: date) -> None:
        self.day = day
        model = DayModel(self.args.seed * 1000 + day.toordinal(), self.services, self.desk_services)
        self.model = model
        windows = [] if day.isoformat() in self.closed_days else self.hours.get(DAYS[day.weekday()], [])
        self.arrivals = [a for a in model.arrivals() if any(_secs(o) <= a.at_s < _secs(c) for o, c in windows)]
        officers = {o.desk: o for o in model.officers()} if windows else {}
        for d in self.desks:
            d.officer = officers.get(d.desk)
        log.info("simulated day %s: %d citizens expected", day, len(self.arrivals))

    def take_ticket(self, a: Arrival) -> None:
        kiosk = self.kiosks[self.issued % len(self.kiosks)]
        ctl = kiosk.controller
        ctl.go_home()
        ctl.choose_service(a.service)
        if ctl.screen != "options":
            log.info("kiosk %s: no ticket for %s (%s)", kiosk.config.kiosk.device, a.service, ctl.notice)
            return
        ticket = ctl.choose_priority(a.priority)
        if ticket is not None:
            self.issued += 1
        ctl.done()

    def run(self) -> None:
        while not self.stopping.is_set():
            today = self.sim_now().date()
            if today != self.day:
                self.plan_day(today)
            t = self.sim_seconds()
            while self.arrivals and self.arrivals[0].at_s <= t:
                a = self.arrivals.pop(0)
                try:
                    self.take_ticket(a)
                except Exception:  # noqa: BLE001 - one citizen's bad luck must not end the demo
                    log.exception("taking a ticket failed")
            self.stopping.wait(0.05)

    def stop(self) -> None:
        self.stopping.set()
        for d in self.desks:  # no simulated person presses anything after this
            d.thread.join()
        self.agent_stop.set()
        for _agent, client, _ob, th in self.agents:
            th.join(5)
            client.settle(5)
            client.stop()
        for k in self.kiosks:
            k.stop()
        for d in self.desks:
            d.rt.stop(flush_s=5.0)
        for _agent, _client, ob, _th in self.agents:
            ob.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m demo.devices", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="started by: motcua demo")
    ap.add_argument("--broker", required=True)
    ap.add_argument("--site", required=True)
    ap.add_argument("--site-config", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--ticket-secret-file", default=None, help="the portal's secret: tickets' QR open the portal")
    args = ap.parse_args(argv)
    setup_logging()
    centre = Centre(args)
    signal.signal(signal.SIGTERM, lambda *_: centre.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: centre.stopping.set())
    centre.build()
    centre.start()
    log.info("simulated devices running: %d desks, %d kiosks, %d cameras",
             len(centre.desks), len(centre.kiosks), len(centre.agents))
    centre.run()
    log.info("stopping: flushing every outbox")
    centre.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
