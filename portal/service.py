"""The portal process: outbox + MQTT client (a device with its own login) + tracker + web app."""
from __future__ import annotations

import logging
import threading
from pathlib import Path


import uvicorn

from common.clock import Clock, SystemClock
from mqtt.client import DeviceClient
from mqtt.outbox import Outbox

from .config import PortalConfig
from .tracker import Tracker
from .web import Portal, make_app

log = logging.getLogger(__name__)

ROLE = "portal"
SESSION_EXPIRY_S = 24 * 3600  # ticket events sent while the portal restarts still reach it


class PortalService:
    """>>> s = PortalService(config); s.start(); s.serve()  # blocks; or s.serve_in_thread()"""

    def __init__(self, config: PortalConfig, broker_url: str | None = None, clock: Clock | None = None):
        self.config = config
        self.clock = clock or SystemClock()
        state = Path(config.state_dir)
        self.outbox = Outbox(state / "outbox.db", config.site, config.device, clock=self.clock)
        self.tracker = Tracker(config.site, state / "portal.db", clock=self.clock)
        broker = config.mqtt if broker_url is None else config.mqtt.model_copy(update={"url": broker_url})
        self.client = DeviceClient(config.site, config.device, ROLE, broker, outbox=self.outbox, clock=self.clock,
                                   clean_start=False, session_expiry_s=SESSION_EXPIRY_S)
        for flt, handler in self.tracker.filters():
            self.client.subscribe(flt, handler)
        self.portal = Portal(config, self.tracker, self.outbox.enqueue)
        self.portal.ask = lambda op, req: self.client.request(op, req, 5.0)
        self.app = make_app(self.portal)
        self.server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.client.start()

    def serve(self) -> None:
        self.server = uvicorn.Server(uvicorn.Config(self.app, host=self.config.listen, port=self.config.port,
                                                    log_level="warning", access_log=False, lifespan="on",
                                                    timeout_graceful_shutdown=2))
        self.server.run()

    def serve_in_thread(self) -> None:
        self._thread = threading.Thread(target=self.serve, name="portal-web", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self.client.flush(2.0)
        self.client.stop()
        self.outbox.close()
        self.tracker.close()


