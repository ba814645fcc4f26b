"""Wiring: one kiosk from its config (outbox, MQTT client, lease store, printer, controller)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from common.clock import Clock, SystemClock
from mqtt import topics
from mqtt.client import DeviceClient
from mqtt.outbox import Outbox
from mqtt.schemas import NumberingState

from .config import KioskConfig
from .controller import KioskController, ticket_content
from .faults import Faults
from .issuer import ClientLeaseSource, Issuer, LeaseSource
from .printer import TicketPrinter
from .printer_faults import PrinterFaults
from .printing import PrintWorker
from .state import KioskState
from .store import KioskStore
from .ticket_bytes import Capabilities, TicketRenderer

log = logging.getLogger(__name__)

ROLE = "kiosk"


@dataclass
class Kiosk:
    config: KioskConfig
    store: KioskStore
    outbox: Outbox
    client: DeviceClient | None
    state: KioskState
    issuer: Issuer
    faults: Faults
    printer: TicketPrinter | None
    controller: KioskController

    def start(self) -> None:
        if self.client is not None:
            self.client.start()
        self.issuer.start()

    def stop(self) -> None:
        self.controller.stop()
        self.issuer.stop()
        if self.client is not None:
            self.client.settle(2.0)
            self.client.stop()
        self.outbox.close()
        self.store.close()
        if self.printer is not None:
            try:
                self.printer.printer.close()
            except Exception:  # noqa: BLE001 - a vanished device: nothing left to close
                log.debug("closing the printer failed", exc_info=True)


def build(cfg: KioskConfig, *, clock: Clock | None = None, source: LeaseSource | None = None,
          printer: TicketPrinter | None = None, connect: bool = True, print_async: bool = True) -> Kiosk:
    """Build a kiosk. ``source``/``printer`` replace ticketing and the configured printer in tests;
    ``connect=False`` builds no MQTT client (the kiosk then issues only from a given source)."""
    k = cfg.kiosk
    clock = clock or SystemClock()
    store = KioskStore(cfg.state_dir / "kiosk.db")
    outbox = Outbox(cfg.state_dir / "outbox.db", k.site, k.device, clock=clock)
    client = None
    if connect:
        client = DeviceClient(k.site, k.device, ROLE, cfg.mqtt, outbox=outbox, clock=clock)
    state = KioskState(k.site, clock=clock, store=store,
                       online=(lambda: client.connected) if client else (lambda: bool(source and source.online)))
    if source is None:
        if client is None:
            raise ValueError("a kiosk without an MQTT client needs a lease source")
        source = ClientLeaseSource(client, k.request_timeout_s)
    faults = Faults(store, outbox)

    def service_names(code: str) -> tuple[str, str] | None:
        info = state.service_info(code)
        return (info.name_vi, info.name_en) if info else None

    def numbering(offline: bool) -> None:  # retained: the hall display explains out-of-order numbers
        if client is not None:
            now = clock.now()
            client.publish_state(topics.device_state(k.site, k.device, "numbering"),
                                 NumberingState(offline=offline, since=now, ts=now))

    issuer = Issuer(store, outbox, source, k.device, clock=clock, lease_size=k.lease_size, lease_low=k.lease_low,
                    faults=faults, service_names=service_names, on_offline=numbering)
    if printer is None:
        try:
            printer = TicketPrinter.from_config(cfg.printer)
        except Exception as exc:  # noqa: BLE001 - the kiosk still issues numbers without a printer
            log.error("printer cannot be set up: %s", exc)
            faults.raise_("printer_offline", "Máy in không phản hồi", "The printer does not respond", str(exc))
    renderer = printer.renderer() if printer is not None else TicketRenderer(
        cfg.printer.width_px, Capabilities(columns=cfg.printer.width_px // 12))
    printer_faults = PrinterFaults(faults, printer)
    printing = PrintWorker(printer, renderer, issuer, faults, printer_faults,
                           lambda t: ticket_content(state, t, k.site, k.device, k.qr_template, k.ticket_secret),
                           asynchronous=print_async)
    controller = KioskController(state, issuer, faults, printing, printer_faults, idle_timeout_s=k.idle_timeout_s,
                                 clock=clock, lang=k.language)

    def services_changed() -> None:
        issuer.services = [s.code for s in (state.site.services if state.site else [])]
        issuer.kick()

    state.listeners.append(services_changed)
    services_changed()
    if client is not None:
        state.attach(client)
        client.on_connected.append(issuer.kick)
        client.on_connected.append(lambda: numbering(issuer.issuing_offline))
    return Kiosk(cfg, store, outbox, client, state, issuer, faults, printer, controller)
