"""The collector process: ingest thread + web server in one process."""
from __future__ import annotations

import logging
from typing import Any

import uvicorn

from common.clock import Clock, SystemClock
from common.systemd import Notifier
from common.web.app import WebSettings

from . import backend
from .alerts import AlertEngine, channels_from
from .busy_hours import BusyHours
from .config import CollectorConfig
from mqtt import topics
from mqtt.errors import OutboxStorageError

from .db import open_db
from .errors import StorageUnavailable
from .central import CentralIngest
from .ingest import Ingest
from .queries import Reader
from .console_link import ConsoleLink
from .province_link import LinkWatch
from .replay import ReplayServer
from .report_mail import ReportMailer
from .rollups import RollupJob, db_connector
from .web import LiveHub, create_app

log = logging.getLogger(__name__)


class Collector:
    """``Collector(config).run()`` blocks until SIGTERM/SIGINT; ``app`` is the Starlette app."""

    def __init__(self, config: CollectorConfig, *, clock: Clock | None = None, notifier: Notifier | None = None):
        self.config = config
        self.clock = clock or SystemClock(config.timezone)
        self.notifier = notifier or Notifier()
        store = config.store_location
        try:
            open_db(store).close()  # create and migrate before anyone reads
        except backend.Error as exc:
            where = backend.redact(store)
            raise StorageUnavailable(
                f"không ghi được cơ sở dữ liệu {where} ({backend.store_error_kind(exc)}) / cannot write the "
                f"database {where}: {getattr(exc, 'sqlite_errorname', '')}: {exc}") from None
        self.reader = Reader(store, self.clock, config.timezone)
        self.hub = LiveHub(self.reader, config.site_or_none)
        staff = config.staff()  # one directory and roster for the mailer, the alerts and the reports
        mailer = (ReportMailer(store, config.report_mail, config.mail, staff=staff,
                               tz=config.timezone, site=config.site_or_none)
                  if config.report_mail is not None and config.mail is not None else None)
        self.alerts = AlertEngine(store, config.alerts, staff=staff, clock=self.clock,
                                  channels=channels_from(config.mail, config.webhooks), tz=config.timezone,
                                  site=config.site_or_none, ticks=[mailer.tick] if mailer else [],
                                  province_link=config.province_link and config.site_or_none is not None)
        # the daily figures the province reports read (collector/rollups.py), computed once a day is over
        self.rollups = RollupJob(db_connector(store), staff, config.timezone,
                                 lambda: self.clock.now().timestamp())
        self.reader.alert_source = lambda: self.alerts.last_conditions
        self.reader.staff = staff
        self.alerts.on_change = self.hub.notify
        self.central = config.province.central  # one of the province's central collectors (collector/central.py)
        try:
            ingest_cls = CentralIngest if self.central else Ingest
            self.ingest = ingest_cls(config, clock=self.clock, on_batch=self._on_batch, notifier=self.notifier)
        except OutboxStorageError as exc:
            raise StorageUnavailable(f"không ghi được hộp thư sự kiện của collector / {exc}") from None
        self.busy: BusyHours | None = None
        if config.site_or_none and not self.central:  # the site's own: the portal's busy-hours chart, on the alerts thread
            self.busy = BusyHours(store, config.site, config.timezone, self.ingest.client.publish_state)
            self.alerts.ticks.append(self.busy.tick)
            self.ingest.client.on_connected.append(self._republish)
        if config.province_link and config.site_or_none:  # the bridge's retained 1/0 (docs/province.md)
            link = LinkWatch(store, config.site, topics.province_link(config.site), self.clock,
                             self.ingest.client.ack)
            self.ingest.client.subscribe(link.topic, link.on_message)
        self.replay: ReplayServer | None = None  # the site's store answers the province's gap filling
        if config.province_link and config.site_or_none and not self.central:
            self.replay = ReplayServer(store, config.site, self.ingest.client, self.clock, config.province)
        self.console: ConsoleLink | None = None
        if config.console_device and config.site_or_none:
            self.console = ConsoleLink(config.site, config.console_device, config.broker_config())
        self.app = create_app(store, self.reader, self.hub, health=self.health, tz=config.timezone,
                              on_ready=self._ready, settings=WebSettings(secure_cookies=config.secure_cookies),
                              alerts=self.alerts, staff=staff, console_link=self.console,
                              fleet_publish=None if self.central else self._publish_command, releases=config.releases)

    def _republish(self) -> None:
        """A (re)connect: retained state the collector owns is published again from the store."""
        if self.busy is not None:
            self.busy.republish()
            self.alerts.poke()

    def _publish_command(self, topic: str, payload: bytes) -> None:
        """A device command (the dashboard's updates) on the collector's own MQTT login."""
        self.ingest.client.publish(topic, payload, qos=1)

    def _on_batch(self, res: Any) -> None:
        self.hub.notify(res)
        self.alerts.poke()  # live data changed: look for alerts to raise or clear

    def _ready(self) -> None:
        host, port = self.config.http_address()
        log.info("collector ready: dashboard on http://%s:%d, broker %s, site %s", host, port,
                 self.config.broker, self.config.site)
        self.notifier.ready(f"dashboard on {host}:{port}")

    def health(self) -> dict[str, Any]:
        storage = self.ingest.stats.storage  # ok, or why the database takes no writes (disk full, read-only)
        return {"status": "ok" if storage == "ok" else "degraded", "storage": storage,
                "storage_error": self.ingest.stats.storage_error, "mqtt_connected": self.ingest.connected,
                "site": self.config.site, "queue_depth": self.ingest.queue_depth,
                "ingest": self.ingest.stats.as_dict(), **self._province_health()}

    def _province_health(self) -> dict[str, Any]:
        if isinstance(self.ingest, CentralIngest) and self.ingest.gap_filler is not None:
            return {"province": {"central": True, "replayed_in": self.ingest.replayed_in,
                                 "events_in": self.ingest.events_in,
                                 **self.ingest.gap_filler.stats()}}
        if self.replay is not None:
            return {"province": {"central": False, "replayed_out": self.replay.sent}}
        return {}

    def run(self) -> None:
        host, port = self.config.http_address()
        self.ingest.start()
        if not self.central:  # alerts and report mail are the site's (the province reads, it does not alert)
            self.alerts.start(self.config.alert_interval_s)
        self.rollups.start()  # the province's daily figures: on a site and at the province alike
        if self.replay is not None:
            self.replay.start()
        if self.console is not None:
            self.console.start()
        server = uvicorn.Server(uvicorn.Config(self.app, host=host, port=port, log_level="warning",
                                               access_log=False, lifespan="on", timeout_graceful_shutdown=2))
        try:
            server.run()
        finally:
            self.notifier.stopping()
            self.alerts.stop()
            self.rollups.stop()
            if self.replay is not None:
                self.replay.stop()
            self.ingest.stop()
            if self.console is not None:
                self.console.stop()
