"""``motcua kiosk``: the touchscreen ticket kiosk (thin layer over kiosk.runtime and kiosk.app)."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from common.cli import role_parser
from common.errors import ConfigError, MotcuaError
from common.logs import setup_logging

EXAMPLE = """example:
  motcua kiosk --config /etc/motcua/kiosk.toml
  motcua kiosk --config config/kiosk.toml --broker mqtt://192.168.1.10:1883 --windowed
  motcua kiosk --config config/kiosk.toml --check-config
"""

log = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    p = role_parser(
        "motcua kiosk", "Máy lấy số thứ tự / touchscreen queue kiosk: shows the services, issues numbers from "
        "leases held from ticketing (also offline) and prints tickets on a thermal printer.", EXAMPLE,
        config_help="path to kiosk.toml (see config/kiosk.toml)")
    p.add_argument("--windowed", action="store_true", help="run in a window instead of fullscreen")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args.log_level)
    from .config import load

    try:
        cfg = load(args.config)
    except ConfigError as exc:
        print(f"Lỗi cấu hình / config error:\n{exc}", file=sys.stderr)
        return 2
    if args.broker:
        cfg.mqtt.url = args.broker
    if args.windowed:
        cfg.kiosk.fullscreen = False
    if args.check_config:
        print(f"{args.config}: hợp lệ / ok (site {cfg.kiosk.site}, device {cfg.kiosk.device}, "
              f"printer {cfg.printer.kind} {cfg.printer.width_mm} mm)")
        return 0
    try:
        return run(cfg)
    except MotcuaError as exc:  # e.g. no font with Vietnamese glyphs, a printer that cannot be opened
        print(f"motcua kiosk: Lỗi / error: {exc}", file=sys.stderr)
        return 1


def run(cfg: "object") -> int:
    from common.systemd import Notifier

    from .config import KioskConfig
    from .runtime import build

    assert isinstance(cfg, KioskConfig)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.config import Config

    Config.set("graphics", "fullscreen", "auto" if cfg.kiosk.fullscreen else "0")
    Config.set("graphics", "width", str(cfg.kiosk.width))
    Config.set("graphics", "height", str(cfg.kiosk.height))
    Config.set("kivy", "exit_on_escape", "0")
    from kivy.clock import Clock

    from .app import KioskApp

    kiosk = build(cfg)
    kiosk.start()
    notifier = Notifier()
    app = KioskApp(kiosk.controller, printer_poll_s=cfg.kiosk.printer_poll_s)
    interval = notifier.watchdog_interval_s()
    if interval:
        Clock.schedule_interval(lambda _dt: notifier.watchdog(), interval)
    Clock.schedule_once(lambda _dt: notifier.ready("kiosk showing"), 0)
    try:
        app.run()
    finally:
        notifier.stopping()
        kiosk.stop()
    return 0
