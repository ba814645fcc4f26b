"""Who may ask ticketing for what: every request and device event checked against the device
registry, with the asker taken from the topic (the broker ACL binds ``dev/{device}/`` to the
device's login), never from a payload field.

- desk operations (call-next, recall, no-show, transfer, finish) and officer sign-in/out: only
  from the device registered at that desk, or from another :data:`DeskAuthority` added to
  :attr:`Authority.desk_authorities` (the seam for the officer web console: a logged-in officer
  of that desk);
- leases and online numbers (``number``): only from kiosks (the count is bounded by the queue);
- ``issued`` ticket events: only from kiosks, only for a number leased to that kiosk, with an
  ``issued_at`` kept between that lease and now (the queue checks the service exists);
- appointments (appointments.py): ``book``, ``cancel``, ``slots`` only from the citizen portal
  (role ``portal``); ``check-in`` from kiosks, or for a desk from that desk's device/console;
- no retained request is served (the broker cannot refuse the retain flag per topic).

Without a registry (development, tests of other parts) every device is trusted and the start
log says so.
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Callable

from common.registry import DeviceEntry, Registry
from mqtt import topics
from mqtt.client import Message
from mqtt.schemas import DeskData, Envelope, Request, Response, TicketData

from .config import SiteConfig

log = logging.getLogger(__name__)

BOOKING_OPS = ("book", "cancel", "slots")  # the citizen portal (and the online-service API on it)
DESK_OPS = ("call-next", "recall", "no-show", "transfer", "finish", "sign-in", "sign-out")

# (asking device, its registry entry or None, desk) -> may this device act at this desk?
DeskAuthority = Callable[[str, DeviceEntry | None, int], bool]


def terminal_at_desk(device: str, entry: DeviceEntry | None, desk: int) -> bool:
    """The desk's own rating terminal."""
    return entry is not None and entry.role == "rating-terminal" and entry.desk == desk


def forbidden(request_id: str, vi: str, en: str) -> Response:
    return Response(request_id=request_id, ok=False, error="forbidden",
                    message_vi=f"Không được phép: {vi}", message_en=f"Forbidden: {en}")


class Authority:
    """The rules; ``refused`` counts refusals per device (ticketing's telemetry shows them)."""

    def __init__(self, registry: Registry | None, site: SiteConfig, own_device: str):
        self.registry = registry
        self.site = site
        self.own_device = own_device
        self.desk_authorities: list[DeskAuthority] = [terminal_at_desk]
        self.refused: Counter[str] = Counter()
        if registry is None:
            log.warning("không có sổ thiết bị / no device registry configured: every device is trusted "
                        "for every desk (development only; set `devices` in ticketing.toml)")

    def _entry(self, device: str) -> DeviceEntry | None:
        return self.registry.get(device) if self.registry is not None else None

    def may_act_at_desk(self, device: str, desk: int) -> bool:
        if self.registry is None:
            return True
        entry = self._entry(device)
        return any(rule(device, entry, desk) for rule in self.desk_authorities)

    def _refuse(self, device: str, what: str, vi: str, en: str, request_id: str) -> Response:
        self.refused[device] += 1
        log.warning("forbidden: %s from %s: %s", what, device, en)
        return forbidden(request_id, vi, en)

    def request(self, op: str, req: Request, msg: Message) -> Response | None:
        """None when the request may be served; else the ``forbidden`` answer to send."""
        asker = topics.parse(msg.topic).device or "?"
        if msg.retain:
            return self._refuse(asker, op, "yêu cầu không được lưu giữ (retained)",
                                "a request must not be retained", req.id)
        if req.device != asker:
            return self._refuse(asker, op, f"yêu cầu ghi thiết bị {req.device!r} nhưng gửi từ {asker!r}",
                                f"the payload names device {req.device!r} but {asker!r} sent it", req.id)
        if self.registry is None:
            return None
        entry = self._entry(asker)
        if entry is None:
            return self._refuse(asker, op, f"thiết bị {asker} chưa có trong sổ thiết bị",
                                f"device {asker} is not in the device registry", req.id)
        if op in ("lease", "number") and entry.role != "kiosk":
            return self._refuse(asker, op, "chỉ máy lấy số được nhận số",
                                f"only a kiosk may take numbers ({asker} is a {entry.role})", req.id)
        if op in BOOKING_OPS and entry.role != "portal":
            return self._refuse(asker, op, "chỉ cổng dịch vụ công dân được đặt hoặc hủy lịch hẹn",
                                f"only the citizen portal may {op} appointments ({asker} is a {entry.role})", req.id)
        if op == "check-in":
            if entry.role == "kiosk" and req.desk is None:
                return None
            if req.desk is None or not self.may_act_at_desk(asker, req.desk):
                return self._refuse(asker, op, "chỉ máy lấy số hoặc thiết bị của quầy được nhận lịch hẹn",
                                    f"only a kiosk or the device of the named desk may check in ({asker})", req.id)
        if op in DESK_OPS:
            if req.desk is None:
                return None  # the queue answers bad_request
            if not self.may_act_at_desk(asker, req.desk):
                return self._refuse(asker, op, f"{asker} không phải thiết bị của quầy {req.desk}",
                                    f"{asker} is not the device of desk {req.desk}", req.id)
        return None

    def issued(self, env: Envelope, data: TicketData) -> bool:
        """May this ``issued`` ticket event enter the queue?"""
        if self.registry is None:
            return True
        entry = self._entry(env.device)
        if entry is None or entry.role != "kiosk":
            self.refused[env.device] += 1
            log.warning("forbidden: ticket %s issued by %s, which is not a kiosk: not queued", data.ticket,
                        env.device)
            return False
        return True

    def bound_issued(self, env: Envelope, data: TicketData, lease_at: datetime | None,
                     now: datetime) -> TicketData | None:
        """A kiosk's ticket only from a number leased to it, issued no earlier than that lease and
        no later than now: its place in the queue and its waiting time cannot be made up. None
        when the number was never leased to this kiosk."""
        if lease_at is None:
            self.refused[env.device] += 1
            log.warning("forbidden: ticket %s (%s %s) from %s was never leased to it: not queued", data.ticket,
                        data.service, data.day, env.device)
            return None
        issued = data.issued_at or now
        bounded = max(lease_at, min(issued, now))
        if bounded != issued:
            log.warning("ticket %s from %s: issued_at %s is outside its lease (%s) and now: %s used", data.ticket,
                        env.device, issued.isoformat(), lease_at.isoformat(), bounded.isoformat())
        return data.model_copy(update={"issued_at": bounded})

    def desk_event(self, env: Envelope, data: DeskData) -> bool:
        """May this officer sign-in/out change the desk?"""
        if self.may_act_at_desk(env.device, data.desk):
            return True
        self.refused[env.device] += 1
        log.warning("forbidden: %s from %s for desk %d, which is not its desk: ignored", data.action, env.device,
                    data.desk)
        return False
