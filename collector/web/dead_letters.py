"""The dead-letters area: ``GET /dead-letters`` (paged, filtered by reason, the raw payload shown
as escaped text, no script) and ``GET /api/dead-letters`` (the same query as JSON)."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.web.auth import requires
from common.web.i18n import request_lang
from ..comparisons import DEAD_LETTER_REASONS
from ..queries import BadQuery
from .state import int_param, web, whole_store

PAGE_SIZE = 50
PAYLOAD_PREVIEW_CHARS = 300


def _local_time(epoch: float | None, fallback: str | None, tz: str) -> str:
    if epoch is None:
        return fallback or ""
    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def _row(item: dict[str, Any], tz: str) -> dict[str, Any]:
    text = item.get("payload") or ""
    return {**item, "local_time": _local_time(item.get("received_epoch"), item.get("received_at"), tz),
            "preview": text[:PAYLOAD_PREVIEW_CHARS], "cut": len(text) > PAYLOAD_PREVIEW_CHARS, "length": len(text),
            "base64": item.get("payload_encoding") == "base64",
            "reason_text": reason_text(item.get("reason") or "")}


def reason_text(code: str) -> str:
    """'not_json' -> 'Không phải JSON / Not JSON'; '' for a code without a label."""
    vi, en = DEAD_LETTER_REASONS.get(code, ("", ""))
    return f"{vi} / {en}" if vi else ""


@requires("dead_letters", page=True)
def dead_letters_page(request: Request) -> Response:
    whole_store(request)
    w = web(request)
    reason = request.query_params.get("reason") or None
    try:
        offset = int_param(request, "offset") or 0
        result = w.reader.dead_letters(reason=reason, limit=PAGE_SIZE, offset=offset)
    except BadQuery as exc:
        return w.pages.error(request, 400, "bad_query", detail=str(exc))
    lang = request_lang(request)

    def href(**kw: Any) -> str:
        q = {"reason": reason or "", "offset": offset, "lang": lang} | kw
        return "/dead-letters?" + urlencode({k: v for k, v in q.items() if v not in ("", None, 0)})

    reasons = dict(w.reader.dead_letter_reasons())
    if reason and reason not in reasons:
        reasons[reason] = 0
    items, total = result["items"], result["total"]
    ctx = {"items": [_row(it, w.tz) for it in items], "total": total, "reasons": reasons, "reason": reason,
           "reason_texts": {r: reason_text(r) for r in reasons},
           "first": offset + 1, "last": offset + len(items),
           "newer": href(offset=max(0, offset - PAGE_SIZE)) if offset > 0 else None,
           "older": href(offset=offset + PAGE_SIZE) if offset + len(items) < total else None}
    return w.pages.render(request, "dead_letters.html", ctx)


@requires("dead_letters")
def dead_letters_api(request: Request) -> Response:
    whole_store(request)
    return JSONResponse(web(request).reader.dead_letters(
        reason=request.query_params.get("reason") or None, limit=int_param(request, "limit"),
        offset=int_param(request, "offset")))


routes = [Route("/dead-letters", dead_letters_page, name="dead_letters")]
api_routes = [Route("/dead-letters", dead_letters_api, name="api_dead_letters")]
