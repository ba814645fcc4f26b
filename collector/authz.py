"""What each device may put into the record, checked where the data lands (docs/security.md).

The broker ACL already binds every topic under ``dev/{device}/`` to that device's login, so the
device of the topic is who sent it. Against the device registry (:mod:`common.registry`):

- ratings only from rating terminals, for their own desk, channel ``desk`` (and from the citizen
  portal, channel ``phone``); feedback only from the portal;
- presence (events and retained ``state/presence/{desk}``) only from cameras, for their desks;
- ticket lifecycle only from ticketing; ``issued`` only from kiosks, without ``wait_s`` or
  ``service_s`` (ticketing computes those);
- officer sign-in/out only from the desk's own terminal;
- requests (which ticketing answers ``forbidden``) counted the same way: desk operations only from
  the desk's terminal, leases only from kiosks, the payload naming the asker;
- status only about the device itself: its desk must be its registered desk;
- nothing retained but a device's status and its own state;
- a device missing from the registry records nothing.

Everything else becomes a dead letter with reason ``forbidden`` whose message names the device,
and counts toward that device's ``forbidden`` figure (``devices.forbidden``, shown by
``/api/devices``), on which an alert can be raised. Malformed messages pass through untouched:
the store gives them their own reason. Without a registry nothing is checked (development).
"""
from __future__ import annotations

import json
import logging
from typing import Any

from common.clock import iso
from common.registry import DeviceEntry, Registry
from mqtt import topics
from mqtt.errors import BadId, BadTopic

from .store import BatchResult, Incoming, Store

log = logging.getLogger(__name__)

REASON = "forbidden"
# every refusal leads with Vietnamese (the dead-letters page shows it to managers), then the detail
LEAD = "Thiết bị gửi điều nó không được phép / a device sent what its role may not"
RATING_ROLES = ("rating-terminal", "portal")
RETAINED_KINDS = ("status", "devstate", "state")  # all a device (or server) may leave retained
# event type -> (the roles that may send it, how the refusal names them)
EVENT_ROLES: dict[str, tuple[tuple[str, ...], str]] = {
    "rating": (RATING_ROLES, "only rating terminals send ratings"),
    "feedback": (("portal",), "only the citizen portal sends feedback"),
    "presence": (("camera",), "only cameras send presence"),
    "appointment": (("ticketing",), "only ticketing reports appointments"),
}


def _json(payload: bytes) -> dict[str, Any] | None:
    try:
        raw = json.loads(payload)
    except ValueError:
        return None
    return raw if isinstance(raw, dict) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Authz:
    """``Authz(registry).screen(store, batch)`` -> the messages the store may write."""

    def __init__(self, registry: Registry | None):
        self.registry = registry
        if registry is None:
            log.warning("không có sổ thiết bị / no device registry configured: every device's data is "
                        "stored as it says (development only; set `devices` in collector.toml)")

    # -- the rules ---------------------------------------------------------------------------------

    def check(self, msg: Incoming) -> str | None:
        """Why this message is forbidden (naming the device), or None."""
        if self.registry is None:
            return None
        try:
            t = topics.parse(msg.topic)
        except (BadTopic, BadId):
            return None  # the store dead-letters it as bad_topic
        if t.site != self.registry.site or t.device is None or t.kind in ("cmd", "resp"):
            return None  # site state, commands and answers: only the servers can write them (ACL)
        dev = t.device
        if msg.retain and t.kind not in RETAINED_KINDS and msg.payload:
            return f"device {dev}: retained {t.kind} is not allowed (only its status and own state)"
        entry = self.registry.get(dev)
        if entry is None:
            return f"device {dev} is not in the device registry"
        if not msg.payload:
            return None  # clearing its own retained status or state
        raw = _json(msg.payload)
        if raw is None:
            return None
        if t.kind == "req":  # ticketing refuses it too (answer forbidden); here it is counted
            return self._request(dev, entry, t.name or "", raw)
        if t.kind == "evt":
            data = raw.get("data")
            return self._event(dev, entry, t.name or "", data if isinstance(data, dict) else {})
        if t.kind == "status":
            desk = _int(raw.get("desk"))
            if desk is not None and not entry.watches(desk):
                return f"device {dev} ({entry.role}) announced desk {desk}, which is not its desk"
        if t.kind == "devstate" and t.name == "presence":
            return self._presence_state(dev, entry, t.key, raw)
        return None

    def _request(self, dev: str, entry: DeviceEntry, op: str, raw: dict[str, Any]) -> str | None:
        if entry.role == "ticketing":
            return None  # ticketing's own start-up probe
        if raw.get("device") != dev:
            return f"device {dev} sent a {op} request naming device {raw.get('device')!r}"
        if op == "lease" and entry.role != "kiosk":
            return f"device {dev} is a {entry.role}: only kiosks lease numbers"
        desk = _int(raw.get("desk"))
        if entry.role == "console" and desk is not None and (not entry.desks or desk in entry.desks):
            return None  # the officer web console acting for a logged-in officer (ticketing/desk_rules.py)
        if op != "lease" and desk is not None and not (entry.role == "rating-terminal" and entry.desk == desk):
            return f"device {dev} ({entry.role}) asked {op} at desk {desk}, which is not its desk"
        return None

    def _event(self, dev: str, entry: DeviceEntry, typ: str, data: dict[str, Any]) -> str | None:
        desk = _int(data.get("desk"))
        roles, only = EVENT_ROLES.get(typ, (None, ""))
        if roles is not None and entry.role not in roles:
            return f"device {dev} is a {entry.role}: {only}"
        if typ == "rating":
            if entry.role == "rating-terminal" and desk is not None and desk != entry.desk:
                return f"device {dev} is the terminal of desk {entry.desk}, not of desk {desk}: rating refused"
            channel = data.get("channel", "desk")
            if channel != ("phone" if entry.role == "portal" else "desk"):
                return f"device {dev} is a {entry.role}: it may not send a rating with channel {channel!r}"
        elif typ == "presence":
            if desk is not None and not entry.watches(desk):
                return f"camera {dev} does not watch desk {desk} (its desks: {entry.desks})"
        elif typ == "ticket":
            return self._ticket(dev, entry, data)
        elif typ == "desk":
            if entry.role != "rating-terminal" or (desk is not None and desk != entry.desk):
                return f"device {dev} ({entry.role}) may not sign officers in or out at desk {desk}"
        return None

    def _ticket(self, dev: str, entry: DeviceEntry, data: dict[str, Any]) -> str | None:
        action = data.get("action")
        if action == "issued":
            if entry.role == "ticketing" and data.get("appointment"):
                return None  # an appointment checked in at a desk: ticketing queues it (ticketing/appointments.py)
            if entry.role != "kiosk":
                return f"device {dev} is a {entry.role}: only kiosks issue tickets"
            for key in ("wait_s", "service_s"):
                if data.get(key) is not None:
                    return f"kiosk {dev} sent {key}: only ticketing measures waiting and service times"
            return None
        if entry.role != "ticketing":
            return f"device {dev} is a {entry.role}: only ticketing reports a ticket {action!r}"
        return None

    def _presence_state(self, dev: str, entry: DeviceEntry, key: str | None, raw: dict[str, Any]) -> str | None:
        if entry.role != "camera":
            return f"device {dev} is a {entry.role}: only cameras keep presence state"
        desk = _int(raw.get("desk"))
        if key is None or not key.isdigit() or desk != int(key) or not entry.watches(desk):
            return f"camera {dev}: presence state for desk {raw.get('desk')!r} on key {key!r} is not one of its desks"
        return None

    # -- the hook ----------------------------------------------------------------------------------

    def screen(self, store: Store, batch: list[Incoming]) -> tuple[list[Incoming], BatchResult]:
        """Dead-letter the forbidden messages of `batch` (one transaction, with each device's count);
        return the others, for the store."""
        refused: list[tuple[Incoming, str, str]] = []
        keep: list[Incoming] = []
        for m in batch:
            why = self.check(m)
            if why is None:
                keep.append(m)
            else:
                refused.append((m, REASON, f"{LEAD}: {why}"))
        if not refused:
            return keep, BatchResult()
        return keep, store.write_dead_many(refused, also=lambda conn: self._count(conn, refused))

    def _count(self, conn: Any, refused: list[tuple[Incoming, str, str]]) -> None:
        for m, _reason, why in refused:
            t = topics.parse(m.topic)
            conn.execute(
                "INSERT INTO devices (site, device, forbidden, forbidden_at, forbidden_reason) VALUES (?, ?, 1, ?, ?) "
                "ON CONFLICT(site, device) DO UPDATE SET forbidden=coalesce(devices.forbidden, 0) + 1, "
                "forbidden_at=excluded.forbidden_at, forbidden_reason=excluded.forbidden_reason",
                (t.site, t.device, iso(m.received), why))
