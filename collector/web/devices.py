"""The devices area: ``GET /devices`` (every device's state, telemetry, faults, version and
update state as one table that becomes one card per device on a phone; outdated and failed
devices first), ``POST /devices/update`` (collector/web/fleet.py), ``GET /api/devices`` and
``GET /api/devices/rollout``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.web.auth import requires
from . import fleet
from .state import site_param, web

BAD = ("failed", "rolled-back")


def offered_release(releases: str | None) -> str | None:
    """The version in the site server's ``latest.json`` (None when there is none or it is unreadable)."""
    if not releases:
        return None
    try:
        v = json.loads((Path(releases) / "latest.json").read_text("utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return str(v) if v else None


def with_updates(request: Request, site: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """The devices with ``update`` (their UpdateState as a dict, or None) and ``outdated``, sorted:
    failed/rolled back first, then outdated, then the rest by name."""
    w = web(request)
    devices = w.reader.devices(site)
    states = fleet.update_states(w.reader.conn, site)
    offered = offered_release(getattr(request.app.state, "releases", None))
    for d in devices:
        st = states.get(d["device"])
        d["update"] = st.model_dump(mode="json") if st else None
        version = d["version"] or (st.version if st and st.version != "?" else None)
        d["outdated"] = bool(offered and version and version != offered)
        d["update_failed"] = bool(st and st.state in BAD)
    devices.sort(key=lambda d: (not d["update_failed"], not d["outdated"], d["site"] or "", d["device"]))
    return devices, offered


@requires("devices", page=True)
async def devices_page(request: Request) -> Response:
    w = web(request)
    devices, offered = await run_in_threadpool(with_updates, request, site_param(request))
    scopes = set(request.auth.scopes)
    return w.pages.render(request, "devices.html", {
        "devices": devices, "offered": offered, "can_update": "fleet" in scopes,
        "rollout": fleet.rollout_view(fleet.fleet_of(request))})


@requires("dashboard")
async def devices_api(request: Request) -> Response:
    items, _ = await run_in_threadpool(with_updates, request, site_param(request))
    return JSONResponse({"items": items, "total": len(items)})


@requires("devices")
async def rollout_api(request: Request) -> Response:
    """The rollout under way (or the last one; null: none since the collector started) and the
    release the server offers."""
    offered = await run_in_threadpool(offered_release, getattr(request.app.state, "releases", None))
    return JSONResponse({"rollout": fleet.rollout_view(fleet.fleet_of(request)), "offered_release": offered})


routes = [Route("/devices", devices_page, name="devices"), *fleet.routes]
api_routes = [Route("/devices/rollout", rollout_api, name="api_devices_rollout"),
              Route("/devices", devices_api, name="api_devices")]
