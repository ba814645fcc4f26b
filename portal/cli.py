"""``motcua portal`` / ``python -m portal``: the citizen portal (ticket pages, rating, feedback)."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import urllib.request

from common.cli import role_parser
from common.errors import ConfigError, MotcuaError
from common.logs import setup_logging
from common.systemd import Notifier

from .config import PortalConfig, load

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "/etc/motcua/portal.toml"
EPILOG = """examples:
  motcua portal --config /etc/motcua/portal.toml
  motcua portal --check-config --config config/portal.toml
  motcua portal --config config/portal.toml --broker mqtt://127.0.0.1:1883 --port 8070

The kiosks print https://PORTAL/ve/{token}: set portal_url in site.toml and the same
ticket_secret in kiosk.toml as secret (or secret_file) here.
"""


def parser() -> argparse.ArgumentParser:
    p = role_parser("motcua portal", "Cổng tra cứu cho người dân / citizen portal: the ticket's live page, "
                    "rating from the phone, feedback, the public site page.", EPILOG,
                    config_help=f"config file (default {DEFAULT_CONFIG})", config_default=DEFAULT_CONFIG)
    p.add_argument("--port", type=int, help="HTTP port (overrides the config's)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        config = load(args.config)
        config.secret_bytes()
    except (ConfigError, ValueError, OSError) as exc:
        print(f"Lỗi cấu hình / config error:\n{exc}", file=sys.stderr)
        return 2
    if args.port:
        config.port = args.port
    if args.check_config:
        print(f"{args.config}: hợp lệ / OK (site {config.site}, device {config.device}, "
              f"http {config.listen}:{config.port})")
        return 0
    from .service import PortalService
    try:
        svc = PortalService(config, broker_url=args.broker)
    except (MotcuaError, ValueError, OSError) as exc:
        print(f"motcua portal: Lỗi / error: {exc}", file=sys.stderr)
        return 1
    notifier = Notifier()
    signal.signal(signal.SIGTERM, lambda *_: setattr(svc.server, "should_exit", True) if svc.server else None)
    svc.start()
    notifier.ready(f"portal {config.listen}:{config.port}")
    stop = threading.Event()
    threading.Thread(target=_watchdog, args=(notifier, config, stop), name="portal-watchdog", daemon=True).start()
    try:
        svc.serve()
    finally:
        stop.set()
        notifier.stopping()
        svc.stop()
    return 0


def _watchdog(notifier: Notifier, config: PortalConfig, stop: threading.Event) -> None:
    """WATCHDOG=1 only while the portal answers its own site page: a hung server is restarted."""
    host = "127.0.0.1" if config.listen in ("0.0.0.0", "::", "") else config.listen
    url = f"http://{host}:{config.port}/site.json"
    interval = min(notifier.watchdog_interval_s() or 5.0, 5.0)
    while not stop.wait(interval):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - our own loopback address
                if r.status == 200:
                    notifier.watchdog()
        except OSError as exc:
            log.error("the portal does not answer %s (%s): not feeding the watchdog", url, exc)
