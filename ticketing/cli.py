"""``motcua ticketing``: run the site's queue authority (thin layer over Server and Queue)."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from common.cli import role_parser
from common.clock import SystemClock
from common.errors import ConfigError
from common.logs import setup_logging
from common.registry import load_registry
from common.systemd import Notifier
from mqtt.outbox import Outbox

from .config import SiteConfig, TicketingConfig, load_site, load_ticketing
from .errors import AlreadyRunning
from .queue import Queue
from .server import ROLE, persistent_client, Server
from .single import InstanceLock, probe_twin

log = logging.getLogger(__name__)

EPILOG = """examples:
  motcua ticketing --config /etc/motcua/ticketing.toml
  motcua ticketing --config config/ticketing.toml --broker mqtt://127.0.0.1:1883 --db /tmp/t.db
  motcua ticketing --config config/ticketing.toml --check-config
"""


def parser() -> argparse.ArgumentParser:
    p = role_parser(
        "motcua ticketing", "Máy chủ cấp số, gọi số / the site's queue authority: number leases for kiosks, "
        "call-next for desks, retained queue state.", EPILOG,
        config_help="ticketing.toml (names the site config)", check_help="validate both configs and exit")
    p.add_argument("--db", help="override the queue database path")
    p.add_argument("--site-config", help="override the site config (site.toml) path")
    return p


def load(args: argparse.Namespace) -> tuple[TicketingConfig, SiteConfig]:
    cfg, site = load_ticketing(args.config)
    if args.broker:
        cfg.mqtt.url = args.broker
    if args.db:
        cfg.db = args.db
    if args.site_config:
        cfg.site_config = args.site_config
        site = load_site(args.site_config)
    return cfg, site


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        cfg, site = load(args)
    except ConfigError as exc:
        print(f"motcua ticketing: Lỗi cấu hình / config is not valid:\n{exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"hợp lệ / ok: {args.config} and {cfg.site_config}: site {site.site}, {len(site.services)} services "
              f"({', '.join(s.code for s in site.services)}), {len(site.desks)} desks, time zone {site.timezone}")
        return 0
    try:
        return run(cfg, site)
    except ConfigError as exc:
        print(f"motcua ticketing: Lỗi cấu hình / config is not valid:\n{exc}", file=sys.stderr)
        return 2
    except AlreadyRunning as exc:
        print(f"motcua ticketing: Đã có một máy chủ cấp số khác đang chạy / {exc}", file=sys.stderr)
        return 3


def run(cfg: TicketingConfig, site: SiteConfig) -> int:
    registry = load_registry(cfg.devices)  # a bad registry refuses to start (ConfigError: file and line)
    if registry is not None and registry.site != site.site:
        raise ConfigError(cfg.devices or "", [f"{cfg.devices}: the device registry is for site {registry.site!r}, "
                                              f"this ticketing serves {site.site!r}"])
    lock = InstanceLock(cfg.db, site.site).acquire()
    try:
        if probe_twin(cfg.mqtt, site.site, cfg.device, cfg.probe_timeout_s):
            raise AlreadyRunning(f"another ticketing for site {site.site!r} answers on {cfg.mqtt.url}; "
                                 f"only one queue authority may serve a site: stop it first")
        clock = SystemClock(site.timezone)
        queue = Queue(cfg.db, site, clock, device=cfg.device, lease_block=cfg.lease_block,
                      recent_finished=cfg.recent_finished, lease_max=cfg.lease_max,
                      lease_held_max=cfg.lease_held_max)
        outbox = Outbox(cfg.outbox_path(), site.site, cfg.device, clock=clock)
        servers: list[Server] = []
        client = persistent_client(site.site, cfg.device, ROLE, cfg.mqtt, outbox=outbox, clock=clock,
                                  telemetry_extra=lambda: {"waiting": sum(
                                      queue.service_state(s.code).waiting for s in site.services),
                                      "forbidden": dict(servers[0].authority.refused) if servers else {}})
        server = Server(queue, client, outbox, clock, registry=registry)
        servers.append(server)  # refusals per device, in ticketing's telemetry
        stop = threading.Event()

        def on_signal(signum: int, _frame: Any) -> None:
            log.info("signal %d: stopping", signum)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        server.start()
        notifier = Notifier()
        client.wait_connected(5.0)
        log.info("ticketing for %s serving on %s (db %s)", site.site, cfg.mqtt.url, Path(cfg.db))
        notifier.ready(f"serving {site.site}")
        while not stop.wait(1.0):
            server.tick()
            notifier.watchdog()
        notifier.stopping()
        server.stop()
        outbox.close()
        queue.close()
        return 0
    finally:
        lock.release()
