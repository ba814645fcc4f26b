"""Server-rendered pages: the login form and the dashboard shell (the panels are filled by
static/dashboard.js from the same JSON the API serves, first from the snapshot embedded in the
page, then from every server-sent event)."""
from __future__ import annotations

from html import escape
from typing import Any

from .i18n import labels
from .queries import dumps

_HEAD = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="stylesheet" href="/static/dashboard.css"></head>"""


def login_page(lang: str, error: bool = False, next_url: str = "/") -> str:
    t = labels(lang)
    other = "en" if lang == "vi" else "vi"
    err = f'<p class="error" role="alert">{escape(t["login_failed"])}</p>' if error else ""
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
 {escape(t["dead_letters"])}: <span id="dead">0</span></p>
</main>
<noscript>JavaScript is needed for the live view. / Cần bật JavaScript để xem trực tiếp.</noscript>
<script id="boot" type="application/json">{boot}</script>
<script src="/static/dashboard.js"></script>
</body></html>"""
