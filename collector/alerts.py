"""The alerts engine: raised and cleared from live data, each stored with its times, acknowledged by a
manager, delivered by e-mail and webhook; never repeated while open.

:class:`AlertEngine` evaluates the rules (:mod:`collector.alert_rules`) over a read connection and keeps
the ``alerts`` table in step, in one write transaction per evaluation (its own connection: WAL lets it
write beside the ingest's writer; evaluations are rare and short):

- a red condition with no open alert of the same ``(site, kind, subject)`` -> a new row (``raised_at``);
- an open alert whose condition is gone -> ``cleared_at`` set;
- an open alert whose condition is still there -> nothing (no repeat, no second message);
- ``acknowledge(id, user)`` sets ``acked_at``/``acked_by``; the alert stays open until its cause clears.

Each raise and clear is sent to every channel once; the outcome per channel is kept in ``delivered``
(JSON). A failed delivery (SMTP or webhook down) is tried again at each evaluation once due, after
``retry_first_s``, then twice as long each time (at most ``retry_max_s``), ``retry_attempts`` tries in all;
a raise still undelivered when its alert clears is dropped (the clear is sent instead); once delivered it
is never sent again. Pending retries live in memory: a restart forgets them (the failure stays recorded). Amber conditions are hints for the dashboard's desk cards (:meth:`AlertEngine.desk_cards`).
Run :meth:`evaluate` after every ingest batch and every ``interval_s`` (time alone can raise an alert:
an officer away for ten minutes), e.g. with :meth:`start`.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from common.clock import Clock, SystemClock, iso

from .backend import Conn
from .alert_delivery import Channel, MailChannel, WebhookChannel
from .alert_rules import Condition, Rules
from .db import connect
from .manager_config import AlertThresholds, MailConfig, WebhookConfig
from .staff import Staff

log = logging.getLogger(__name__)

COLUMNS = ("id", "site", "kind", "subject", "severity", "message_vi", "message_en", "detail", "raised_at",
           "cleared_at", "acked_at", "acked_by", "delivered")


@dataclass
class Retry:
    event: str
    alert_id: int
    channel: Channel
    attempts: int
    next_at: float


@dataclass
class Changes:
    raised: list[dict[str, Any]] = field(default_factory=list)
    cleared: list[dict[str, Any]] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)


def channels_from(mail: MailConfig | None, webhooks: list[WebhookConfig]) -> list[Channel]:
    out: list[Channel] = [MailChannel(mail)] if mail is not None and mail.to else []
    return out + [WebhookChannel(w) for w in webhooks]


def _row(r: Any) -> dict[str, Any]:
    d = {k: r[k] for k in COLUMNS}
    d["detail"] = json.loads(r["detail"] or "{}")
    d["delivered"] = json.loads(r["delivered"] or "{}")
    d["desk"] = d["detail"].get("desk")
    return d


class AlertEngine:
    def __init__(self, db: str | Path, thresholds: AlertThresholds | None = None, *, staff: Staff | None = None,
                 channels: list[Channel] | None = None, clock: Clock | None = None, tz: str = "Asia/Ho_Chi_Minh",
                 site: str | None = None, ticks: list[Callable[[datetime], None]] | None = None,
                 province_link: bool = False):
        self.db = str(db)
        self.ticks = list(ticks or [])  # other periodic work on the same thread (the monthly report mail)
        self.rules = Rules(thresholds or AlertThresholds.model_validate({}), staff, tz, province_link)
        self.channels = list(channels or [])
        self.clock = clock or SystemClock(tz)
        self.site = site
        self._lock = threading.Lock()
        self._poke = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_conditions: list[Condition] = []
        self.last_eval_ms = 0.0
        self.on_change: Callable[[], None] | None = None  # the dashboard's live hub
        self.retries: list[Retry] = []

    # -- evaluation ------------------------------------------------------------------------------

    def evaluate(self, now: datetime | None = None) -> Changes:
        """Bring the stored alerts in step with the live data at ``now``; deliver what changed."""
        now = now or self.clock.now()
        t0 = time.perf_counter()
        with self._lock:
            conn = connect(self.db)
            try:
                changes = self._apply(conn, now)
            finally:
                conn.close()
            before = {(c.key, c.severity) for c in self.last_conditions}
            self.last_conditions = changes.conditions
        if self.on_change is not None and (changes.raised or changes.cleared or
                                           before != {(c.key, c.severity) for c in changes.conditions}):
            self.on_change()
        for a in changes.raised:
            self._deliver("raised", a, now)
        for a in changes.cleared:
            self._deliver("cleared", a, now)
        self._retry_due(now)
        self.last_eval_ms = (time.perf_counter() - t0) * 1000
        return changes

    def _apply(self, conn: Conn, now: datetime) -> Changes:
        conds = self.rules.conditions(conn, now, self.site)
        red = {c.key: c for c in conds if c.severity == "red"}
        out = Changes(conditions=conds)
        conn.execute("BEGIN IMMEDIATE")
        try:
            w, a = (" AND site=?", [self.site]) if self.site else ("", [])
            open_ = {(r["site"], r["kind"], r["subject"]): r for r in conn.execute(
                f"SELECT * FROM alerts WHERE cleared_epoch IS NULL{w}", a)}
            for key, c in red.items():
                if key in open_:
                    continue
                new_id = conn.execute(
                    "INSERT INTO alerts (site, kind, subject, severity, message_vi, message_en, detail, raised_at, "
                    "raised_epoch, delivered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}') RETURNING id",
                    (c.site, c.kind, c.subject, c.severity, c.message_vi, c.message_en,
                     json.dumps(c.detail | {"desk": c.desk}, ensure_ascii=False), iso(now), now.timestamp())
                ).fetchone()[0]
                out.raised.append(_row(conn.execute("SELECT * FROM alerts WHERE id=?", (new_id,)).fetchone()))
            for key, r in open_.items():
                if key not in red:
                    conn.execute("UPDATE alerts SET cleared_at=?, cleared_epoch=? WHERE id=?",
                                 (iso(now), now.timestamp(), r["id"]))
                    out.cleared.append(_row(conn.execute("SELECT * FROM alerts WHERE id=?", (r["id"],)).fetchone()))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        for a_ in out.raised:
            log.warning("alert raised: %s %s: %s", a_["kind"], a_["subject"], a_["message_en"])
        return out

    def _send(self, ch: Channel, event: str, alert: dict[str, Any]) -> str:
        try:
            ch.send(event, alert)
            return "ok"
        except Exception as exc:  # noqa: BLE001 - one channel down must not stop the others
            log.error("alert %s %s via %s failed: %s", alert["id"], event, ch.name, exc)
            return f"error: {exc}"

    def _deliver(self, event: str, alert: dict[str, Any], now: datetime) -> None:
        outcome: dict[str, str] = {}
        for ch in self.channels:
            outcome[ch.name] = self._send(ch, event, alert)
            if outcome[ch.name] != "ok":
                self.retries.append(Retry(event, alert["id"], ch, 1, now.timestamp() + self.rules.t.retry_first_s))
        self._record(alert["id"], event, outcome)

    def _retry_due(self, now: datetime) -> None:
        """Try again each failed delivery that is due; drop it once delivered, given up, or (a raise)
        when its alert has cleared meanwhile."""
        t, keep = self.rules.t, []
        for r in self.retries:
            if r.next_at > now.timestamp():
                keep.append(r)
                continue
            alert = self._alert(r.alert_id)
            if alert is None:
                continue
            if r.event == "raised" and alert["cleared_at"] is not None:
                self._record(r.alert_id, r.event, {r.channel.name: "dropped: cleared before delivery"})
                continue
            res = self._send(r.channel, r.event, alert)
            r.attempts += 1
            if res == "ok":
                log.info("alert %s %s via %s delivered at attempt %d", r.alert_id, r.event, r.channel.name, r.attempts)
            elif r.attempts >= t.retry_attempts:
                res = f"gave up after {r.attempts} attempts: {res}"
            else:
                r.next_at = now.timestamp() + min(t.retry_max_s, t.retry_first_s * 2 ** (r.attempts - 1))
                keep.append(r)
            self._record(r.alert_id, r.event, {r.channel.name: res}, r.attempts)
        self.retries = keep

    def _alert(self, alert_id: int) -> dict[str, Any] | None:
        conn = connect(self.db)
        try:
            r = conn.execute("SELECT * FROM alerts WHERE id=?", (alert_id,)).fetchone()
            return _row(r) if r else None
        finally:
            conn.close()

    def _record(self, alert_id: int, event: str, outcome: dict[str, str], attempts: int = 1) -> None:
        """Merge the outcome per channel into ``delivered[event]`` (and the attempts so far)."""
        if not outcome:
            return
        conn = connect(self.db)
        try:
            row = conn.execute("SELECT delivered FROM alerts WHERE id=?", (alert_id,)).fetchone()
            done = json.loads(row[0] or "{}") if row else {}
            done[event] = done.get(event, {}) | outcome
            if attempts > 1:
                done.setdefault("attempts", {}).setdefault(event, {}).update({k: attempts for k in outcome})
            conn.execute("UPDATE alerts SET delivered=? WHERE id=?", (json.dumps(done), alert_id))
        finally:
            conn.close()

    # -- managers ---------------------------------------------------------------------------------

    def acknowledge(self, alert_id: int, user: str) -> dict[str, Any] | None:
        """Mark an alert seen by ``user`` (the dashboard login); None when there is no such alert."""
        conn = connect(self.db)
        try:
            conn.execute("UPDATE alerts SET acked_at=?, acked_by=? WHERE id=? AND acked_at IS NULL",
                         (iso(self.clock.now()), user, alert_id))
            r = conn.execute("SELECT * FROM alerts WHERE id=?", (alert_id,)).fetchone()
            return _row(r) if r else None
        finally:
            conn.close()

    # -- the periodic loop ------------------------------------------------------------------------

    def poke(self, *_: Any) -> None:
        """Ask for an evaluation soon (an ingest batch arrived)."""
        self._poke.set()

    def start(self, interval_s: float = 15.0) -> None:
        self._thread = threading.Thread(target=self._loop, args=(interval_s,), name="collector-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        if self._thread:
            self._thread.join(5)

    def _loop(self, interval_s: float) -> None:
        while not self._stop.is_set():
            self._poke.wait(interval_s)
            self._poke.clear()
            if self._stop.is_set():
                break
            try:
                self.evaluate()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("alert evaluation failed")
            for tick in self.ticks:
                try:
                    tick(self.clock.now())
                except Exception:  # noqa: BLE001
                    log.exception("periodic task %s failed", getattr(tick, "__qualname__", tick))


def open_alerts(conn: Conn, site: str | None = None) -> list[dict[str, Any]]:
    """Open alerts, newest first (the dashboard's list, with since-when)."""
    w, a = (" AND site=?", [site]) if site else ("", [])
    return [_row(r) for r in conn.execute(f"SELECT * FROM alerts WHERE cleared_epoch IS NULL{w} "
                                          "ORDER BY raised_epoch DESC, id DESC", a)]


def alert_history(conn: Conn, start: float, end: float, site: str | None = None) -> list[dict[str, Any]]:
    w, a = (" AND site=?", [site]) if site else ("", [])
    return [_row(r) for r in conn.execute(f"SELECT * FROM alerts WHERE raised_epoch >= ? AND raised_epoch < ?{w} "
                                          "ORDER BY raised_epoch, id", [start, end, *a])]


def desk_cards(conditions: list[Condition], desk_services: dict[int, list[str]]) -> dict[int, dict[str, Any]]:
    """Per desk: ``level`` red / amber / ok, the reasons, and the desk's services (a service's wait alert
    colours every desk that serves it)."""
    cards: dict[int, dict[str, Any]] = {d: {"level": "ok", "reasons": [], "services": s}
                                        for d, s in desk_services.items()}
    rank = {"ok": 0, "amber": 1, "red": 2}
    for c in conditions:
        desks = [c.desk] if c.desk is not None else list(c.detail.get("desks", []))
        for d in desks:
            card = cards.setdefault(d, {"level": "ok", "reasons": [], "services": desk_services.get(d, [])})
            card["reasons"].append({"kind": c.kind, "severity": c.severity, "message_vi": c.message_vi,
                                    "message_en": c.message_en})
            if rank[c.severity] > rank[card["level"]]:
                card["level"] = c.severity
    return cards
