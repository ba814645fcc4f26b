"""Citizens' words, for managers only (scope ``citizen_data``): ``GET /feedback`` lists the portal's
feedback events (phản ánh, kiến nghị: text, phone, ticket) and the comments of phone ratings,
newest first, read from the stored events' payloads (escaped by the templates)."""
from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from common.web.auth import requires
from .state import site_param, web

LIMIT = 200


def _rows(request: Request, type_: str) -> list[dict[str, Any]]:
    site = site_param(request)
    w = web(request)
    sql = "SELECT site, device, ts, payload FROM events WHERE type=?" + (" AND site=?" if site else "")
    sql += " ORDER BY ts_epoch DESC, id DESC LIMIT ?"
    args: list[Any] = [type_, *([site] if site else []), LIMIT]
    out = []
    for r in w.reader.conn.execute(sql, args):
        data = json.loads(r[3]).get("data", {})
        out.append({"site": r[0], "device": r[1], "ts": r[2], **data})
    return out


@requires("citizen_data", page=True)
def feedback_page(request: Request) -> Response:
    ratings = [r for r in _rows(request, "rating") if r.get("channel") == "phone" and r.get("comment")]
    return web(request).pages.render(request, "feedback.html", {"items": _rows(request, "feedback"),
                                                                 "comments": ratings})


routes = [Route("/feedback", feedback_page, name="feedback")]
