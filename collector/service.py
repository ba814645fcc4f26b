"""The collector process: ingest thread + web server in one process."""
from __future__ import annotations

import logging
from typing import Any

import uvicorn

from common.clock import Clock, SystemClock
from common.systemd import Notifier
from common.web.app import WebSettings

from .config import CollectorConfig
from .db import open_db
from .ingest import Ingest
from .queries import Reader
from .web import LiveHub, create_app

log = logging.getLogger(__name__)


class Collector:
    """``Collector(config).run()`` blocks until SIGTERM/SIGINT; ``app`` is the Starlette app."""

    def __init__(self, config: CollectorConfig, *, clock: Clock | None = None, notifier: Notifier | None = None):
        self.config = config
        self.clock = clock or SystemClock(config.timezone)
        self.notifier = notifier or Notifier()
        open_db(config.db).close()  # create and migrate before anyone reads
        self.reader = Reader(config.db, self.clock, config.timezone)
        self.hub = LiveHub(self.reader, config.site_or_none)
        self.ingest = Ingest(config, clock=self.clock, on_batch=self.hub.notify, notifier=self.notifier)
        self.app = create_app(config.db, self.reader, self.hub, health=self.health, tz=config.timezone,
                              on_ready=self._ready, settings=WebSettings(secure_cookies=config.secure_cookies))

    def _ready(self) -> None:
        host, port = self.config.http_address()
        log.info("collector ready: dashboard on http://%s:%d, broker %s, site %s", host, port,
                 self.config.broker, self.config.site)
        self.notifier.ready(f"dashboard on {host}:{port}")

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "mqtt_connected": self.ingest.connected, "site": self.config.site,
                "queue_depth": self.ingest.queue_depth, "ingest": self.ingest.stats.as_dict()}

    def run(self) -> None:
        host, port = self.config.http_address()
        self.ingest.start()
        server = uvicorn.Server(uvicorn.Config(self.app, host=host, port=port, log_level="warning",
                                               access_log=False, lifespan="on", timeout_graceful_shutdown=2))
        try:
            server.run()
        finally:
            self.notifier.stopping()
            self.ingest.stop()
