"""The site's link to the province, as the site's Mosquitto bridge tells it (docs/province.md).

The bridge publishes a retained ``1`` on ``motcua/link/{site}`` when it connects and ``0`` (its will at
the far end, its own publication here) when the link drops; Mosquitto publishes these notifications on
the local broker too (``notifications_local_only`` is false). :class:`LinkWatch` keeps the state with the
time it last changed in ``retained_state`` (``name='province_link'``, payload ``{"up": bool, "since":
iso}``): a repeat of the same value (the retained copy after a reconnection) keeps the first since-time,
so a link down for an hour stays down for an hour across a collector restart. The alert rule
``province_link`` (collector/alert_rules.py) reads it, only when ``province_link = true`` in the config.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

from common.clock import Clock, iso

from .backend import Conn
from .db import connect

log = logging.getLogger(__name__)

NAME = "province_link"


def link_state(conn: Conn, site: str) -> dict[str, Any] | None:
    """``{"up": bool, "since": iso}`` or None when no bridge notification was ever received."""
    r = conn.execute("SELECT payload FROM retained_state WHERE site=? AND name=? AND device IS NULL",
                     (site, NAME)).fetchone()
    if r is None:
        return None
    try:
        d = json.loads(r[0])
        return {"up": bool(d["up"]), "since": str(d["since"])}
    except (ValueError, KeyError, TypeError):
        return None


class LinkWatch:
    """The handler of ``motcua/link/{site}``; ``ack`` acknowledges a message once stored."""

    def __init__(self, db: str | Path, site: str, topic: str, clock: Clock, ack: Callable[[Any], None]):
        self.db, self.site, self.topic, self.clock, self.ack = str(db), site, topic, clock, ack

    def on_message(self, msg: Any) -> None:
        raw = bytes(msg.payload).strip()
        if raw not in (b"0", b"1"):
            log.warning("province link %s: unexpected payload %r (expected 1 or 0), ignored", self.topic, raw[:40])
            self.ack(msg)
            return
        up = raw == b"1"
        now = self.clock.now()
        conn = connect(self.db)
        try:
            old = link_state(conn, self.site)
            since = old["since"] if old is not None and old["up"] == up else iso(now)
            conn.execute("INSERT INTO retained_state (topic, site, device, name, key, payload, received_at, "
                         "received_epoch) VALUES (?, ?, NULL, ?, NULL, ?, ?, ?) ON CONFLICT (topic) DO UPDATE SET "
                         "site=excluded.site, device=excluded.device, name=excluded.name, key=excluded.key, "
                         "payload=excluded.payload, received_at=excluded.received_at, "
                         "received_epoch=excluded.received_epoch",
                         (self.topic, self.site, NAME, json.dumps({"up": up, "since": since}), iso(now),
                          now.timestamp()))
        finally:
            conn.close()
        if old is None or old["up"] != up:
            log.warning("province link of %s %s since %s", self.site, "up" if up else "DOWN", since)
        self.ack(msg)
