"""Server-rendered pages: the login form, the dashboard shell (the panels are filled by
static/dashboard.js from the same JSON the API serves, first from the snapshot embedded in the
page, then from every server-sent event) and the dead-letters list (plain HTML, no script)."""
from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from .i18n import labels
from .queries import dumps

DEAD_LETTERS_PAGE_SIZE = 50
PAYLOAD_PREVIEW_CHARS = 300

_HEAD = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="stylesheet" href="/static/dashboard.css"></head>"""


def login_page(lang: str, error: bool = False, next_url: str = "/", locked_minutes: int | None = None) -> str:
    """The login form; ``error``: the last attempt failed; ``locked_minutes``: too many failures,
    the name/address may try again in that many minutes (the page is answered with 429)."""
    t = labels(lang)
    other = "en" if lang == "vi" else "vi"
    err = f'<p class="error" role="alert">{escape(t["login_failed"])}</p>' if error else ""
    if locked_minutes is not None:
        err = (f'<p class="error" id="locked" role="alert">'
               f'{escape(t["login_locked"].format(m=locked_minutes))}</p>')
    return _HEAD.format(lang=lang, title=escape(t["login_title"])) + f"""
<body class="login"><main>
<h1>{escape(t["login_title"])}</h1>{err}
<form method="post" action="/login">
<input type="hidden" name="next" value="{escape(next_url)}">
<label>{escape(t["user"])} <input name="user" id="user" autocomplete="username" required></label>
<label>{escape(t["password"])} <input name="password" id="password" type="password"
 autocomplete="current-password" required></label>
<button type="submit" id="login">{escape(t["login"])}</button>
</form>
<p><a href="/login?lang={other}">{escape(t["language"])}</a></p>
</main></body></html>"""


def dashboard_page(lang: str, user: str, snapshot: dict[str, Any], tz: str) -> str:
    t = labels(lang)
    other = "en" if lang == "vi" else "vi"
    boot = dumps({"lang": lang, "labels": t, "tz": tz, "snapshot": snapshot}).replace("</", "<\\/")
    return _HEAD.format(lang=lang, title=escape(t["title"])) + f"""
<body>
<header>
<h1>{escape(t["title"])}</h1>
<span id="live" class="live off">{escape(t["reconnecting"])}</span>
<span class="user">{escape(user)}</span>
<a id="reports-link" href="/reports?lang={lang}">{escape(t["reports"])}</a>
<a id="lang" href="/?lang={other}">{escape(t["language"])}</a>
<form method="post" action="/logout"><button type="submit">{escape(t["logout"])}</button></form>
</header>
<main>
<section id="desks-panel"><h2>{escape(t["desks"])}
 <small>{escape(t["ratings_today"])}: <b id="ratings-total">0</b></small></h2>
<div id="desks" class="grid"></div></section>
<section id="queue-panel"><h2>{escape(t["queue"])}</h2><table id="queue"></table></section>
<section id="devices-panel"><h2>{escape(t["devices"])}</h2><table id="devices"></table></section>
<p class="updated">{escape(t["updated"])}: <span id="updated"></span> ·
 {escape(t["dead_letters"])}: <a id="dead" href="/dead-letters?lang={lang}">0</a></p>
</main>
<noscript>JavaScript is needed for the live view. / Cần bật JavaScript để xem trực tiếp.</noscript>
<script id="boot" type="application/json">{boot}</script>
<script src="/static/dashboard.js"></script>
</body></html>"""


def _local_time(epoch: float | None, fallback: str | None, tz: str) -> str:
    if epoch is None:
        return fallback or ""
    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def _payload_cell(item: dict[str, Any], t: dict[str, str]) -> str:
    """The raw payload, escaped: the first PAYLOAD_PREVIEW_CHARS characters, the whole text in a
    <details> when it is longer."""
    text = item.get("payload") or ""
    note = f'<small class="enc">({escape(t["base64"])})</small> ' if item.get("payload_encoding") == "base64" else ""
    if len(text) <= PAYLOAD_PREVIEW_CHARS:
        return f'{note}<code class="preview">{escape(text)}</code>'
    return (f'{note}<code class="preview">{escape(text[:PAYLOAD_PREVIEW_CHARS])}…</code>'
            f'<details><summary>{escape(t["show_all"].format(n=len(text)))}</summary>'
            f'<pre class="full">{escape(text)}</pre></details>')


def dead_letters_page(lang: str, user: str, result: dict[str, Any], reasons: dict[str, int], *,
                      reason: str | None, offset: int, tz: str, limit: int = DEAD_LETTERS_PAGE_SIZE) -> str:
    """One page of ``Reader.dead_letters`` (newest first) with a reason filter and newer/older links."""
    t = labels(lang)
    other = "en" if lang == "vi" else "vi"
    total, items = result["total"], result["items"]

    def href(**kw: Any) -> str:
        q = {"reason": reason or "", "offset": offset, "lang": lang} | kw
        return "/dead-letters?" + urlencode({k: v for k, v in q.items() if v not in ("", None, 0)})

    options = [f'<option value="">{escape(t["all_reasons"])}</option>']
    known = dict(reasons)
    if reason and reason not in known:
        known[reason] = 0
    for r, n in known.items():
        sel = " selected" if r == reason else ""
        options.append(f'<option value="{escape(r)}"{sel}>{escape(r)} ({n})</option>')
    rows = []
    for it in items:
        rows.append(
            f'<tr data-id="{int(it["id"])}" data-reason="{escape(it["reason"] or "")}">'
            f'<td class="received"><time datetime="{escape(it["received_at"] or "")}">'
            f'{escape(_local_time(it.get("received_epoch"), it.get("received_at"), tz))}</time></td>'
            f'<td class="topic"><code>{escape(it["topic"] or "")}</code></td>'
            f'<td class="reason"><b>{escape(it["reason"] or "")}</b></td>'
            f'<td class="message">{escape(it["message"] or "")}</td>'
            f'<td class="payload">{_payload_cell(it, t)}</td></tr>')
    if rows:
        head = (f'<tr><th>{escape(t["received_at"])}</th><th>{escape(t["topic"])}</th><th>{escape(t["reason"])}'
                f'</th><th>{escape(t["error_message"])}</th><th>{escape(t["payload"])}</th></tr>')
        table = f'<table id="dead-letters">{head}{"".join(rows)}</table>'
        shown = escape(t["showing"].format(first=offset + 1, last=offset + len(items), total=total))
    else:
        table = f'<table id="dead-letters"></table><p class="empty">{escape(t["no_dead_letters"])}</p>'
        shown = ""
    nav = []
    if offset > 0:
        nav.append(f'<a id="newer" href="{escape(href(offset=max(0, offset - limit)))}">{escape(t["newer"])}</a>')
    if offset + len(items) < total:
        nav.append(f'<a id="older" href="{escape(href(offset=offset + limit))}">{escape(t["older"])}</a>')
    return _HEAD.format(lang=lang, title=escape(t["dead_letters"])) + f"""
<body class="dead-letters">
<header>
<h1>{escape(t["dead_letters"])}</h1>
<span class="user">{escape(user)}</span>
<a id="dashboard-link" href="/?lang={lang}">{escape(t["dashboard"])}</a>
<a id="lang" href="{escape(href(lang=other))}">{escape(t["language"])}</a>
<form method="post" action="/logout"><button type="submit">{escape(t["logout"])}</button></form>
</header>
<main><section>
<form id="filter" method="get" action="/dead-letters">
<input type="hidden" name="lang" value="{lang}">
<label>{escape(t["reason"])} <select name="reason" id="reason">{"".join(options)}</select></label>
<button type="submit">{escape(t["filter"])}</button>
<span id="shown" class="updated">{shown}</span>
</form>
{table}
<p class="pager">{" ".join(nav)}</p>
</section></main>
</body></html>"""


def bad_query_page(lang: str, message: str) -> str:
    t = labels(lang)
    return _HEAD.format(lang=lang, title=escape(t["bad_query"])) + f"""
<body><main><section><h1>{escape(t["bad_query"])}</h1><p class="error" role="alert">{escape(message)}</p>
<p><a href="/dead-letters?lang={lang}">{escape(t["dead_letters"])}</a></p></section></main></body></html>"""
