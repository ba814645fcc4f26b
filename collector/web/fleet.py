"""Updates from the dashboard: ``POST /devices/update`` (scope ``fleet``: technicians and
managers) asks the chosen devices to update in waves (common/waves.py), through the collector's
own MQTT client (the ACL lets ``collector`` write ``dev/+/cmd/#``). A thread of its own reads the
devices' retained ``state/update`` from the collector's database and moves the rollout on; the
devices page shows where it stands."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from common.waves import Rollout
from common.web.auth import requires
from mqtt import topics
from mqtt.schemas import UpdateCommand, UpdateState

from ..backend import Conn
from ..db import connect
from .state import own_site, web

log = logging.getLogger(__name__)
Publish = Callable[[str, bytes], None]


def update_states(conn: Conn, site: str | None) -> dict[str, UpdateState]:
    """Each device's retained ``state/update`` (a payload naming another device is ignored:
    identity is the topic)."""
    w, a = (" AND site=?", [site]) if site else ("", [])
    out: dict[str, UpdateState] = {}
    for r in conn.execute(f"SELECT device, payload FROM retained_state WHERE name='update' AND device IS NOT NULL{w}",
                          a):
        try:
            st = UpdateState.model_validate_json(r["payload"])
        except ValidationError:
            continue
        if st.device == r["device"]:
            out[r["device"]] = st
    return out


class Fleet:
    """One rollout at a time per collector."""

    def __init__(self, db_path: str, site: str | None, publish: Publish | None, *, poll_s: float = 0.5,
                 resend_s: float = 10.0, timeout_s: float = 900.0):
        self.db_path, self.site, self.publish = db_path, site, publish
        self.poll_s, self.resend_s, self.timeout_s = poll_s, resend_s, timeout_s
        self.rollout: Rollout | None = None
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_rollout(self, devices: list[str], size: int, version: str | None) -> Rollout:
        with self.lock:
            if self.rollout is not None and self.rollout.status == "running":
                raise RuntimeError("đang có một đợt cập nhật / an update is under way")
            self.rollout = Rollout(devices, size, version, resend_s=self.resend_s, timeout_s=self.timeout_s)
            if self._thread is None:  # the thread clears it (under this lock) when it ends
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="fleet-waves", daemon=True)
                self._thread.start()
            return self.rollout

    def _send(self, device: str, cmd: UpdateCommand) -> None:
        assert self.site is not None and self.publish is not None
        log.info("asking %s to update (command %s)", device, cmd.id)
        self.publish(topics.command(self.site, device, "update"), cmd.dumps())

    def _run(self) -> None:
        conn = connect(self.db_path, readonly=True)
        try:
            while not self._stop.is_set():
                with self.lock:
                    ro = self.rollout
                    if ro is None or ro.status != "running":
                        self._thread = None
                        return
                states = update_states(conn, self.site)
                try:
                    ro.step(states.get, self._send)
                except Exception as exc:  # a lost broker: say so on the page, keep the thread alive
                    log.warning("update wave: %s", exc)
                    ro.reason = f"gửi lệnh không được / could not send: {exc}"
                self._stop.wait(self.poll_s)
        finally:
            conn.close()
            with self.lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def stop(self) -> None:
        self._stop.set()


def fleet_of(request: Request) -> Fleet:
    f: Fleet = request.app.state.fleet
    return f


@requires("fleet", page=True)
async def ask_update(request: Request) -> Response:
    w, fleet = web(request), fleet_of(request)
    own_site(request)  # a login bound to another site updates nothing here
    form = await request.form()
    devices = [str(d) for d in form.getlist("device") if str(d)]
    try:
        size = int(str(form.get("wave", "1")))
    except ValueError:
        size = 0
    version = str(form.get("version", "")).strip() or None
    if fleet.publish is None or fleet.site is None:
        return w.pages.error(request, 503, "fleet_no_mqtt")
    if not devices or size < 1:
        return w.pages.error(request, 400, "err_400",
                             "chọn ít nhất một thiết bị và số máy mỗi đợt ≥ 1 / choose devices and a wave size ≥ 1")
    known = {d["device"] for d in await run_in_threadpool(w.reader.devices, fleet.site)}
    unknown = [d for d in devices if d not in known]
    if unknown:
        return w.pages.error(request, 400, "err_400", f"thiết bị không có / unknown devices: {', '.join(unknown)}")
    try:
        fleet.start_rollout(devices, size, version)
    except RuntimeError as exc:
        return w.pages.error(request, 409, "rollout_busy", str(exc))
    return RedirectResponse("/devices", status_code=303)


def rollout_view(fleet: Fleet) -> dict[str, Any] | None:
    ro = fleet.rollout
    if ro is None:
        return None
    return {"status": ro.status, "reason": ro.reason, "failed": ro.failed, "wave": ro.wave + 1,
            "waves": ro.waves, "sent": ro.sent, "version": ro.version}


routes = [Route("/devices/update", ask_update, methods=["POST"], name="devices_update")]
