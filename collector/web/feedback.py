"""Citizens' words, for managers only (scope ``citizen_data``).

``GET /feedback`` lists the portal's feedback events (phản ánh, kiến nghị: text, phone, ticket) with
their handling state, and the comments of phone ratings, newest first, read from the stored events'
payloads (escaped by the templates). ``?state=new|in_progress|done`` shows one state only.

``POST /feedback/{id}/state`` (a form: ``state``, optional ``note``, the CSRF token) sets an item's
state; who (the logged-in manager) and when are recorded in ``feedback_history`` (every change;
the latest is the item's state). Schema v7 (collector/db.py). The SQL is portable (SQLite and
PostgreSQL; tests/portal/test_portable_sql.py).
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from common.clock import iso
from common.web.auth import current, requires
from .state import site_param, web

LIMIT = 200
STATES = ("new", "in_progress", "done")
NOTE_CHARS = 500
_ID = re.compile(r"^[0-9a-fA-F-]{8,40}$")


# the latest change of each item is its state (none yet: new)
_LATEST = ("LEFT JOIN feedback_history s ON s.event_id = e.id AND s.changed_epoch = "
           "(SELECT max(h.changed_epoch) FROM feedback_history h WHERE h.event_id = e.id)")


def feedback_rows(conn: Any, type_: str, site: str | None, state: str | None = None) -> list[dict[str, Any]]:
    """The newest ``type_`` events (feedback, rating) with the handling state of each."""
    sql = ("SELECT e.id, e.site, e.device, e.ts, e.payload, s.state, s.note, s.changed_by, s.changed_at "
           f"FROM events e {_LATEST} WHERE e.type = ?")
    args: list[Any] = [type_]
    if site:
        sql += " AND e.site = ?"
        args.append(site)
    if state == "new":
        sql += " AND (s.state IS NULL OR s.state = ?)"
        args.append(state)
    elif state:
        sql += " AND s.state = ?"
        args.append(state)
    sql += " ORDER BY e.ts_epoch DESC, e.id DESC LIMIT ?"
    args.append(LIMIT)
    out = []
    for r in conn.execute(sql, args):
        data = json.loads(r[4]).get("data", {})
        out.append({**data, "id": r[0], "site": r[1], "device": r[2], "ts": r[3], "state": r[5] or "new",
                    "note": r[6], "changed_by": r[7], "changed_at": r[8]})
    return out


def history(conn: Any, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every change of each item, newest first."""
    out: dict[str, list[dict[str, Any]]] = {}
    for i in range(0, len(ids), 200):
        chunk = ids[i:i + 200]
        for r in conn.execute("SELECT event_id, state, note, changed_by, changed_at FROM feedback_history "
                              f"WHERE event_id IN ({', '.join('?' * len(chunk))}) ORDER BY changed_epoch DESC",
                              chunk):
            out.setdefault(r[0], []).append({"state": r[1], "note": r[2], "changed_by": r[3], "changed_at": r[4]})
    return out


@requires("citizen_data", page=True)
def feedback_page(request: Request) -> Response:
    state = request.query_params.get("state")
    state = state if state in STATES else None
    conn, site = web(request).reader.conn, site_param(request)
    items = feedback_rows(conn, "feedback", site, state)
    changes = history(conn, [f["id"] for f in items])
    for f in items:
        f["history"] = changes.get(f["id"], [])
    ratings = [r for r in feedback_rows(conn, "rating", site) if r.get("channel") == "phone" and r.get("comment")]
    return web(request).pages.render(request, "feedback.html", {"items": items, "comments": ratings,
                                                                 "states": STATES, "shown": state,
                                                                 "note_chars": NOTE_CHARS})


def set_state(conn: Any, event_id: str, site: str | None, state: str, note: str | None, by: str,
              at: datetime) -> bool:
    """Record a change (one statement: no transaction needed); False when ``event_id`` is no feedback
    event (of this collector's site)."""
    sql, args = "SELECT site FROM events WHERE id = ? AND type = ?", [event_id, "feedback"]
    if site:
        sql += " AND site = ?"
        args.append(site)
    row = conn.execute(sql, args).fetchone()
    if row is None:
        return False
    conn.execute("INSERT INTO feedback_history (event_id, changed_epoch, site, state, note, changed_by, changed_at) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, changed_epoch) DO NOTHING",
                 (event_id, at.timestamp(), row[0], state, note, by, iso(at)))
    return True


@requires("citizen_data", page=True)
async def state_post(request: Request) -> Response:
    w = web(request)
    event_id = request.path_params["id"]
    form = await request.form()
    state = str(form.get("state", ""))
    note = str(form.get("note", "")).strip()
    if not _ID.match(event_id) or state not in STATES:
        return w.pages.error(request, 400, "err_400", f"state {state!r}: one of {', '.join(STATES)}")
    if len(note) > NOTE_CHARS:
        return w.pages.error(request, 400, "fb_note_too_long")
    now = w.reader.clock.now().astimezone(w.reader.tz)
    ok = await run_in_threadpool(w.writer.run, set_state, event_id, site_param(request), state, note or None,
                                 current(request).display_name, now)
    if not ok:
        return w.pages.error(request, 404, "fb_unknown")
    return RedirectResponse(f"/feedback#fb-{event_id}", status_code=303)


routes = [Route("/feedback", feedback_page, name="feedback"),
          Route("/feedback/{id}/state", state_post, methods=["POST"], name="feedback_state")]
