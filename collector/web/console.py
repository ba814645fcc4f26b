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

OPS = ("call-next", "recall", "no-show", "transfer", "finish")
REUSE_MS = 1500  # read by static/console.js through data-reuse-ms
_ID = re.compile(r"^[A-Za-z0-9-]{6,40}$")
GONE = ("finished", "no_show", "cancelled", "expired")

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
    "nobody_waiting": ("Không có ai chờ", "No one is waiting"),
}


@dataclass
class ConsoleState:
    """The console's link and which desk each login session is bound to (in memory: after a
    collector restart the officer picks the desk again)."""

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
    return console_state(request).desks.get(_session_key(request))


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
    with st.lock:
        st.desks[_session_key(request)] = desk
    return RedirectResponse("/console", status_code=303)


@requires("officer", page=True)
async def leave_desk(request: Request) -> Response:
    st = console_state(request)
    with st.lock:
        desk = st.desks.pop(_session_key(request), None)
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
    who = current(request)
    resp = await run_in_threadpool(lambda: st.link.ask(  # type: ignore[union-attr]
        op, request_id=f"c{desk}-{rid}", desk=desk, officer=who.name, to_service=to_service or None))
    return JSONResponse(json.loads(resp.model_dump_json()))


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
    where it is (issued or transferred into one of ``services`` and not called since)."""
    last: dict[str, dict[str, Any]] = {}
    for r in conn.execute("SELECT action, ticket, service, to_service, priority, issued_at FROM ticket_events "
                          "WHERE day=? ORDER BY ts_epoch, id", (day,)):
        t = dict(r)
        prev = last.get(t["ticket"])
        if t["action"] == "issued" and prev is not None:
            continue  # a kiosk event arriving after ticketing's own
        last[t["ticket"]] = t
    out = []
    for t in last.values():
        where = t["to_service"] if t["action"] == "transferred" else t["service"]
        if t["action"] in ("issued", "transferred") and where in services:
            out.append({"ticket": t["ticket"], "service": where, "priority": t["priority"], "issued_at": t["issued_at"]})
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
