"""Closing time: what becomes of the tickets still in the queue at the day's last closing, per
``closing_policy`` in site.toml (docs/ticketing.md, "Closing").

- ``expire`` (default): at the last closing of the day the tickets still waiting or being served
  are closed as ``expired`` (a ``ticket`` event ``expired`` each) and the desks are cleared.
- ``keep`` ("kept for tomorrow"): the tickets still waiting move into the NEXT WORKING DAY's queue
  (the next day with opening hours, closed days skipped) with their own number and day: a ticket
  keeps ``day`` (the day its number belongs to, printed on the citizen's paper) and gets
  ``queue_day`` (the day whose queue it waits in), so its number never clashes with the same
  number issued on the new day. It keeps its priority class and its place (original issue time):
  kept tickets are called before that day's own tickets of the same class, in the order they
  were taken. A ``carried`` event names the new ``queue_day``; the retained desk state and calls
  mark it ``carried_from`` (its own day) so screens can show "1023 (06/12)". A ticket is kept
  once: one still waiting at the next closing expires. A ticket being served at closing stays
  with its desk (the officer finishes it); one left serving at midnight expires.
- ``midnight``: nothing happens at closing; the tickets stay callable until the local day ends.

Whatever the policy, at the first step of a new local day (:meth:`Queue.rollover`) tickets of an
earlier queue day still waiting or serving are settled the same way (``keep``: carried to the first
working day from today, e.g. when ticketing was down at closing time; otherwise expired).
"""
from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from typing import TYPE_CHECKING

from .config import SiteConfig
from .hours import LOOKAHEAD_DAYS, _spans

if TYPE_CHECKING:
    from .queue import Outcome, Queue


def working_day_from(site: SiteConfig, day: date, tz: object) -> date:
    """The first day from ``day`` on that has opening hours (closed days skipped); ``day`` itself
    when none within the look-ahead (a site without hours works every day)."""
    for i in range(LOOKAHEAD_DAYS + 1):
        d = day + timedelta(days=i)
        if _spans(site, d, tz):
            return d
    return day


def settle(queue: "Queue", db: sqlite3.Connection, rows: list[sqlite3.Row], keep_to: str | None) -> tuple[int, int]:
    """Inside the caller's transaction: carry each waiting row never carried before to ``keep_to``
    (None: carry none); expire the others. Returns (carried, expired)."""
    carried = expired = 0
    for t in rows:
        if keep_to is not None and t["status"] == "waiting" and t["queue_day"] == t["day"]:
            db.execute("UPDATE tickets SET queue_day=? WHERE id=?", (keep_to, t["id"]))
            queue._event(t, "carried", queue_day=keep_to)
            carried += 1
        else:
            db.execute("UPDATE tickets SET status='expired' WHERE id=?", (t["id"],))
            db.execute("UPDATE desks SET ticket_id=NULL WHERE ticket_id=?", (t["id"],))
            queue._event(t, "expired")
            expired += 1
    return carried, expired


def close_day(queue: "Queue") -> "Outcome":
    """The day's last closing: ``expire`` closes today's waiting and serving tickets; ``keep`` moves
    the waiting ones to the next working day (serving ones stay with their desks)."""
    from .queue import Outcome

    with queue._lock:
        today = date.fromisoformat(queue.today())
        keep = queue.site.closing_policy == "keep"
        states = ("waiting",) if keep else ("waiting", "serving")
        with queue._tx() as db:
            desks = [r[0] for r in db.execute("SELECT desk FROM desks WHERE ticket_id IS NOT NULL")]
            rows = db.execute(f"SELECT * FROM tickets WHERE queue_day=? AND status IN ({','.join('?' * len(states))}) "
                              "ORDER BY prank, order_key, id", (today.isoformat(), *states)).fetchall()
            target = working_day_from(queue.site, today + timedelta(days=1), queue.tz).isoformat() if keep else None
            settle(queue, db, rows, target)
        return Outcome(None, frozenset(desks), frozenset(s.code for s in queue.site.services), True)


def settle_earlier_days(queue: "Queue", db: sqlite3.Connection, today: str) -> int:
    """At the new day (inside :meth:`Queue.rollover`'s transaction): tickets of earlier queue days
    still waiting or serving are carried (``keep``) or expire. Returns how many were touched."""
    rows = db.execute("SELECT * FROM tickets WHERE status IN ('waiting', 'serving') AND queue_day < ? "
                      "ORDER BY prank, order_key, id", (today,)).fetchall()
    keep_to = None
    if queue.site.closing_policy == "keep":
        keep_to = working_day_from(queue.site, date.fromisoformat(today), queue.tz).isoformat()
    carried, expired = settle(queue, db, rows, keep_to)
    return carried + expired
