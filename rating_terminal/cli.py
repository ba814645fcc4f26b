"""``motcua rating-terminal``: a thin layer over Runtime (the desk) and Simulator (--simulate)."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from common.cli import role_parser
from common.errors import ConfigError, MotcuaError
from common.logs import setup_logging
from common.systemd import Notifier

from .config import TerminalConfig, load

if TYPE_CHECKING:
    from .mockpins import PinControl

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "/etc/motcua/rating-terminal.toml"
EPILOG = """examples:
  motcua rating-terminal --config /etc/motcua/rating-terminal.toml
  motcua rating-terminal --check-config --config /etc/motcua/rating-terminal.toml
  motcua rating-terminal --simulate --config config/rating-terminal.toml --broker mqtt://127.0.0.1:1883

--simulate keys: 1-5 rate, n call next, r recall, x no-show, f finish, b/B badge, q quit
"""


def parser() -> argparse.ArgumentParser:
    p = role_parser(
        "motcua rating-terminal", "Thiết bị đánh giá tại quầy / desk rating terminal: rating buttons, officer "
        "keys, LEDs, buzzer, optional counter display and badge reader.", EPILOG,
        config_help=f"config file (default {DEFAULT_CONFIG})", config_default=DEFAULT_CONFIG)
    p.add_argument("--outbox", help="outbox file overriding 'outbox' (default for --simulate: a temp dir)")
    p.add_argument("--simulate", action="store_true",
                   help="MockFactory pins driven from the keyboard, LEDs drawn as text")
    return p


def _sim_outbox(config: TerminalConfig) -> str:
    return str(Path(tempfile.gettempdir()) / f"motcua-sim-{config.device}" / "outbox.db")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args.log_level or ("WARNING" if args.simulate else None))
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"Lỗi cấu hình / config error:\n{exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"{args.config}: hợp lệ / OK (site {config.site}, device {config.device}, desk {config.desk}, "
              f"scale {config.rating.scale})")
        return 0
    try:
        if args.simulate:
            from .simulate import run
            return run(config, broker_url=args.broker, outbox_path=args.outbox or _sim_outbox(config))
        return serve(config, args.broker, args.outbox)
    except (MotcuaError, ValueError) as exc:
        print(f"motcua rating-terminal: Lỗi / error: {exc}", file=sys.stderr)
        return 1


def serve(config: TerminalConfig, broker_url: str | None, outbox_path: str | None) -> int:
    """Run the desk on real GPIO until SIGTERM/SIGINT."""
    from .app import Runtime

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runtime = Runtime(config, broker_url=broker_url, outbox_path=outbox_path)
    notifier = Notifier()
    runtime.start()
    pins = _mock_pin_control(config)
    notifier.ready(f"desk {config.desk}")
    interval = notifier.watchdog_interval_s() or 5.0
    try:
        while not stop.wait(min(interval, 5.0)):
            if runtime.terminal.alive:
                notifier.watchdog()
            else:
                log.error("terminal threads stopped: not feeding the watchdog (systemd restarts us)")
    finally:
        notifier.stopping()
        if pins is not None:
            pins.stop()
        runtime.stop()
    return 0


def _mock_pin_control(config: TerminalConfig) -> "PinControl | None":
    """The MOTCUA_MOCK_PINS hook (rating_terminal.mockpins), started when asked and on mock pins only."""
    from .mockpins import ENV, PinControl
    path = os.environ.get(ENV)
    if not path:
        return None
    from gpiozero import Device
    try:
        pins = PinControl(path, Device.pin_factory, config)
        pins.start()
    except (OSError, ValueError) as exc:
        log.error("%s=%s not started: %s", ENV, path, exc)
        return None
    return pins
