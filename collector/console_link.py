"""The officer web console's line to ticketing: one MQTT client of its own, registered as a
device with role ``console`` (``console_device`` in collector.toml), sending desk requests on
``dev/{console_device}/req/{op}`` for the officer logged in at a desk (see ticketing/desk_rules.py
for how ticketing trusts it). Requests are answered on ``dev/{console_device}/resp``."""
from __future__ import annotations

import logging

from mqtt.client import BrokerConfig, DeviceClient
from mqtt.errors import MqttCoreError
from mqtt.schemas import Request, Response

log = logging.getLogger(__name__)

ROLE = "console"
TIMEOUT_S = 3.0


class ConsoleLink:
    """``ConsoleLink(site, "console-1", broker).ask("call-next", desk=1, officer="nv-01", request_id=...)``"""

    def __init__(self, site: str, device: str, broker: BrokerConfig, client_id: str | None = None):
        self.site, self.device = site, device
        self.client = DeviceClient(site, device, ROLE, broker, client_id=client_id or f"motcua-{device}",
                                   telemetry_interval_s=0)

    def start(self) -> None:
        self.client.start()

    def stop(self) -> None:
        self.client.stop(timeout=2.0)

    @property
    def connected(self) -> bool:
        return self.client.connected

    def ask(self, op: str, *, request_id: str, desk: int, officer: str, to_service: str | None = None,
            keep_place: bool | None = None, appointment: str | None = None) -> Response:
        """Send one desk request and wait for the answer; a lost line answers ``unavailable``.
        ``appointment``: the code of a ``check-in`` at this desk."""
        req = Request(id=request_id, device=self.device, desk=desk, officer=officer, to_service=to_service,
                      keep_place=keep_place, appointment=appointment)
        try:
            return self.client.request(op, req, timeout=TIMEOUT_S)
        except MqttCoreError as exc:
            log.warning("console %s at desk %d: %s", op, desk, exc)
            return Response(request_id=request_id, ok=False, error="unavailable",
                            message_vi="Không liên lạc được máy chủ xếp hàng, vui lòng bấm lại",
                            message_en="The queue server did not answer; press again")
