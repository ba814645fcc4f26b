"""The officer console area: an officer (role ``officer``, scope ``officer``) binds the login
session to a desk and, from the desk PC's browser, calls next, recalls, marks a no-show,
transfers, finishes, signs in and out, and sees the desk's waiting list and the current ticket's
history. Actions go to ticketing as MQTT requests through :class:`collector.console_link.ConsoleLink`
(the collector's ``console_device``); reads come from the collector's record (retained desk
state, ticket events).

``GET /console``, ``POST /console/desk`` (bind + sign in), ``POST /console/leave`` (sign out +
unbind), ``POST /api/console/act`` (``{"op", "id", "to_service"?}``), ``GET /api/console/view``.

Idempotency: the page makes one request id per action press and sends the SAME id again for a
press of the same action within :data:`REUSE_MS` (a double click) or while the first is in flight;
the server prefixes it with the desk, so ticketing's stored answer makes the second press a replay.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from common.clock import local_day
from common.web.auth import current, requires
from mqtt.schemas import uuid7
from ..console_link import ConsoleLink
from .state import own_site, web

OPS = ("call-next", "recall", "no-show", "transfer", "finish", "check-in")
_CODE = re.compile(r"^[0-9]{6}$")  # an appointment code (ticketing/appointments.py)
REUSE_MS = 1500  # read by static/console.js through data-reuse-ms
_ID = re.compile(r"^[A-Za-z0-9-]{6,40}$")
GONE = ("finished", "no_show", "cancelled", "expired")
CARRIED_DAYS = 14  # how far back the waiting list looks for tickets kept at a closing (ticketing/closing.py)

LABELS: dict[str, tuple[str, str]] = {
    "console": ("Bàn làm việc cán bộ", "Officer console"),
    "console_pick_desk": ("Chọn quầy làm việc", "Choose your desk"),
    "console_start": ("Bắt đầu làm việc tại quầy", "Sign in at this desk"),
    "console_leave": ("Kết thúc, rời quầy", "Sign out, leave the desk"),
    "sign_in_refused": ("Không nhận quầy được.", "Could not take the desk."),
    "console_off": ("Chưa bật bàn làm việc cán bộ (console_device)", "The officer console is not set up "
                    "(console_device)"),
    "console_no_desks": ("Chưa có danh sách quầy từ máy chủ xếp hàng", "No desk list from ticketing yet"),
    "call_next": ("Gọi số tiếp", "Call next"),
    "recall": ("Gọi lại", "Recall"),
    "no_show": ("Vắng mặt", "No-show"),
    "transfer": ("Chuyển dịch vụ", "Transfer"),
    "finish": ("Xong", "Finish"),
    "current_ticket": ("Số đang phục vụ", "Current ticket"),
    "no_current": ("Chưa gọi số nào", "No ticket called"),
    "waiting_list": ("Danh sách chờ của quầy", "Waiting at this desk"),
    "history": ("Lịch sử số hiện tại", "Current ticket's history"),
    "shortcuts": ("Phím tắt: N gọi tiếp · R gọi lại · V vắng mặt · T chuyển · F xong",
                  "Shortcuts: N next · R recall · V no-show · T transfer · F finish"),
    "to_service": ("Chuyển sang", "Move to"),
    "issued_at": ("Giờ lấy số", "Issued at"),
    "check_in": ("Nhận lịch hẹn", "Check in"),
    "appointment_code": ("Mã lịch hẹn (6 số)", "Appointment code (6 digits)"),
    "nobody_waiting": ("Không có ai chờ", "No one is waiting"),
}


@dataclass
class ConsoleState:
    """The console's link and which desk each login is bound to. A session's desk is kept in its
    row of the ``sessions`` table (``desk``, migration v10), so a collector restart leaves the
    officer at the desk; ``desks`` caches it (and holds the binding of a token login, which has no
    session row, in memory only)."""

    link: ConsoleLink | None
    desks: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def console_state(request: Request) -> ConsoleState:
    st: ConsoleState = request.app.state.console
    return st


def _session_key(request: Request) -> str:
    who = current(request)
    return who.session or f"token:{who.name}"


def _bound_desk(request: Request) -> int | None:
    """The desk of this login: the cache, else the session's row (after a restart)."""
    st, key = console_state(request), _session_key(request)
    with st.lock:
        desk = st.desks.get(key)
    session = current(request).session
    if desk is None and session:
        row = web(request).writer.run(
            lambda conn: conn.execute("SELECT desk FROM sessions WHERE id_sha256=?", (session,)).fetchone())
        if row is not None and row[0] is not None:
            desk = int(row[0])
            with st.lock:
                st.desks[key] = desk
    return desk


def _keep_desk(request: Request, desk: int | None) -> None:
    """Bind (``desk``) or unbind (None) this login, in the cache and the session's row."""
    st, key, session = console_state(request), _session_key(request), current(request).session
    with st.lock:
        if desk is None:
            st.desks.pop(key, None)
        else:
            st.desks[key] = desk
    if session:
        web(request).writer.run(lambda conn: conn.execute("UPDATE sessions SET desk=? WHERE id_sha256=?",
                                                          (desk, session)))


def _site_desks(request: Request) -> dict[int, list[str]]:
    w = web(request)
    out: dict[int, list[str]] = {}
    for st in w.reader.site_states(own_site(request)).values():
        for d in st.desks:
            out[d.number] = list(d.services)
    return out


@requires("officer", page=True)
async def console_page(request: Request) -> Response:
    w, st = web(request), console_state(request)
    desks, services = await run_in_threadpool(_desks_and_services, request)
    return w.pages.render(request, "console.html", {
        "enabled": st.link is not None, "desk": _bound_desk(request), "desks": desks,
        "services": services, "reuse_ms": REUSE_MS, "officer": current(request).name})


def _desks_and_services(request: Request) -> tuple[list[int], list[dict[str, str]]]:
    """The site's desk numbers and services, from one read of its retained state."""
    w = web(request)
    states = w.reader.site_states(own_site(request)).values()
    desks = sorted({d.number for st in states for d in st.desks})
    return desks, [{"code": s.code, "name_vi": s.name_vi, "name_en": s.name_en} for st in states for s in st.services]


async def _form_desk(request: Request) -> int | None:
    form = await request.form()
    try:
        return int(str(form.get("desk", "")))
    except ValueError:
        return None


@requires("officer", page=True)
async def bind_desk(request: Request) -> Response:
    st = console_state(request)
    desk = await _form_desk(request)
    if st.link is None:
        return web(request).pages.error(request, 503, "console_off")
    if desk is None or desk not in await run_in_threadpool(_site_desks, request):
        return web(request).pages.error(request, 400, "err_400", f"desk {desk!r}")
    who = current(request)
    resp = await run_in_threadpool(lambda: st.link.ask(  # type: ignore[union-attr]
        "sign-in", request_id=f"si-{desk}-{uuid7()}", desk=desk, officer=who.name))
    if not resp.ok:
        return web(request).pages.error(request, 409, "sign_in_refused", f"{resp.message_vi} / {resp.message_en}")
    await run_in_threadpool(_keep_desk, request, desk)
    return RedirectResponse("/console", status_code=303)


@requires("officer", page=True)
async def leave_desk(request: Request) -> Response:
    st = console_state(request)
    desk = await run_in_threadpool(_bound_desk, request)
    await run_in_threadpool(_keep_desk, request, None)
    if desk is not None and st.link is not None:
        who = current(request)
        await run_in_threadpool(lambda: st.link.ask(  # type: ignore[union-attr]
            "sign-out", request_id=f"so-{desk}-{uuid7()}", desk=desk, officer=who.name))
    return RedirectResponse("/console", status_code=303)


def _bad(msg_vi: str, msg_en: str, status: int = 400, code: str = "bad_request") -> JSONResponse:
    return JSONResponse({"ok": False, "error": code, "message_vi": msg_vi, "message_en": msg_en}, status_code=status)


@requires("officer")
async def act(request: Request) -> Response:
    st, desk = console_state(request), _bound_desk(request)
    if st.link is None:
        return _bad("Chưa bật bàn làm việc cán bộ", "The officer console is not set up", 503, "console_off")
    if desk is None:
        return _bad("Chưa chọn quầy", "No desk chosen for this login", 409, "no_desk")
    try:
        body = json.loads(await request.body())
        op, rid = str(body["op"]), str(body["id"])
    except (ValueError, KeyError, TypeError):
        return _bad("Yêu cầu không hợp lệ: cần op và id", "Bad request: op and id are required")
    if op not in OPS or not _ID.match(rid):
        return _bad(f"Thao tác {op!r} hoặc mã {rid!r} không hợp lệ", f"Unknown op {op!r} or bad id {rid!r}")
    to_service = body.get("to_service") if op == "transfer" else None
    code = str(body.get("appointment") or "").strip() if op == "check-in" else None
    if code is not None and not _CODE.match(code):
        return _bad(f"Mã lịch hẹn {code!r} không hợp lệ: cần 6 chữ số",
                    f"Appointment code {code!r} is not valid: 6 digits are needed")
    who = current(request)
    resp = await run_in_threadpool(lambda: st.link.ask(  # type: ignore[union-attr]
        op, request_id=f"c{desk}-{rid}", desk=desk, officer=who.name, to_service=to_service or None,
        appointment=code))
    out = json.loads(resp.model_dump_json())
    if op == "check-in" and resp.ok and resp.ticket is not None:  # the priority ticket it became
        out["message_vi"] = f"Đã nhận lịch hẹn {code}: số ưu tiên {resp.ticket.ticket}"
        out["message_en"] = f"Appointment {code} checked in: priority ticket {resp.ticket.ticket}"
    return JSONResponse(out)


def _view(request: Request, desk: int) -> dict[str, Any]:
    w = web(request)
    conn = w.reader.conn
    row = conn.execute("SELECT payload FROM retained_state WHERE name='desk' AND device IS NULL AND key=? "
                       "AND site=?", (str(desk), own_site(request))).fetchone()
    state = json.loads(row[0]) if row else {"desk": desk, "status": "idle"}
    day = local_day(w.reader.clock.now(), w.reader.tz).isoformat()
    history: list[dict[str, Any]] = []
    if state.get("status") == "serving" and state.get("ticket"):
        history = [dict(r) for r in conn.execute(
            "SELECT action, ts, desk, officer, service, to_service FROM ticket_events WHERE day=? AND ticket=? "
            "ORDER BY ts_epoch, id", (state.get("day"), state["ticket"]))]
    services = _site_desks(request).get(desk, [])
    return {"desk": desk, "state": state, "history": history, "waiting": waiting_list(conn, day, services)}


def waiting_list(conn: Any, day: str | None, services: list[str]) -> list[dict[str, Any]]:
    """The desk's waiting tickets from the record: the last event of each ticket of ``day`` says
    where it is (issued or transferred into one of ``services`` and not called since). Tickets an
    earlier closing kept for this day (last event ``carried``, closing_policy 'keep') come first
    with their own day as ``carried_from``."""
    last: dict[tuple[str, str], dict[str, Any]] = {}
    cols = "action, ticket, day, service, to_service, priority, issued_at"
    rows = list(conn.execute(f"SELECT {cols} FROM ticket_events WHERE day=? ORDER BY ts_epoch, id", (day,)))
    if day:
        since = (date.fromisoformat(day) - timedelta(days=CARRIED_DAYS)).isoformat()
        for d, ticket in list(conn.execute("SELECT DISTINCT day, ticket FROM ticket_events WHERE action='carried' "
                                           "AND day >= ? AND day < ?", (since, day))):
            rows += conn.execute(f"SELECT {cols} FROM ticket_events WHERE day=? AND ticket=? ORDER BY ts_epoch, id",
                                 (d, ticket)).fetchall()
    for r in rows:
        t = dict(r)
        key = (t["day"], t["ticket"])
        if t["action"] == "issued" and key in last:
            continue  # a kiosk event arriving after ticketing's own
        last[key] = t
    out = []
    for t in last.values():
        where = t["to_service"] if t["action"] == "transferred" else t["service"]
        kept_away = t["action"] == "carried" and t["day"] == day  # kept at this day's closing for a later one
        if t["action"] in ("issued", "transferred", "carried") and where in services and not kept_away:
            out.append({"ticket": t["ticket"], "service": where, "priority": t["priority"], "issued_at": t["issued_at"],
                        "carried_from": t["day"] if t["day"] != day else None})
    out.sort(key=lambda x: (x["priority"] is None, x["issued_at"] or ""))
    return out


@requires("officer")
async def view(request: Request) -> Response:
    desk = _bound_desk(request)
    if desk is None:
        return _bad("Chưa chọn quầy", "No desk chosen for this login", 409, "no_desk")
    return JSONResponse(await run_in_threadpool(_view, request, desk))


routes = [Route("/console", console_page, name="console"),
          Route("/console/desk", bind_desk, methods=["POST"], name="console_desk"),
          Route("/console/leave", leave_desk, methods=["POST"], name="console_leave")]
api_routes = [Route("/console/act", act, methods=["POST"], name="api_console_act"),
              Route("/console/view", view, name="api_console_view")]
