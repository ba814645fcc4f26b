"""Managers' reports on the web: an HTML page (table, inline SVG charts, printable on A4), CSV, JSON.

Mount in ``collector.web.create_app`` with ``routes += report_routes(lambda: reader.conn, user_of, ...)``;
``require_login(request)`` returns the user name or None, exactly the dashboard's ``user_of``.
"""
from __future__ import annotations

import csv
import io
import logging
import sqlite3
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import Any, Callable, NamedTuple
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from common.clock import Clock, SystemClock
from .i18n import labels as dash_labels, pick_lang
from .report_series import arrivals_by_hour, occupancy_by_hour, satisfaction_over_time, waits_by_hour
from .reports import (DEFAULT_TZ, GROUPS, PERIOD_KINDS, BadReportQuery, Period, Report, ReportRow, build_report,
                      site_facts, zone)

log = logging.getLogger(__name__)

LANG_COOKIE = "motcua_lang"  # the dashboard's language cookie (collector.web.LANG_COOKIE)

L: dict[str, tuple[str, str]] = {
    "title": ("Báo cáo", "Reports"),
    "dashboard": ("Bảng điều khiển", "Dashboard"),
    "period": ("Kỳ báo cáo", "Period"),
    "day": ("Ngày", "Day"), "month": ("Tháng", "Month"), "quarter": ("Quý", "Quarter"), "year": ("Năm", "Year"),
    "date": ("Ngày chọn", "Date"),
    "by": ("Nhóm theo", "Group by"),
    "service": ("Lĩnh vực", "Service"), "desk": ("Quầy", "Desk"), "officer": ("Cán bộ", "Officer"),
    "overall": ("Toàn đơn vị", "Overall"),
    "levels": ("Số mức tính là hài lòng", "Levels counted as satisfied"),
    "show": ("Xem báo cáo", "Show report"),
    "csv": ("Tải CSV", "Download CSV"),
    "print": ("In báo cáo", "Print"),
    "total": ("Tổng cộng", "Total"),
    "all": ("Toàn đơn vị", "Whole site"),
    "unknown": ("Không rõ", "Unknown"),
    "from_to": ("Từ {start} đến {end}", "From {start} to {end}"),
    "tz": ("Múi giờ", "Time zone"),
    "generated": ("Lập lúc", "Generated"),
    "charts": ("Biểu đồ", "Charts"),
    "table": ("Số liệu", "Figures"),
    "no_data": ("Không có số liệu trong kỳ này.", "No data in this period."),
    "notes": ("Thời gian tính bằng phút. Tỷ lệ đúng hạn: phiếu được gọi trong thời gian chờ mục tiêu của lĩnh vực. "
              "Có mặt: số phút cán bộ có mặt tại quầy trong giờ làm việc.",
              "Times in minutes. Service level: tickets called within their service's target wait. "
              "Present: minutes the officer was at the desk during opening hours."),
}

# (id, Vietnamese, English): the table and CSV columns after the group key
COLUMNS: list[tuple[str, str, str]] = [
    ("issued", "Số phiếu cấp", "Tickets issued"),
    ("served", "Đã phục vụ", "Served"),
    ("no_shows", "Vắng mặt", "No-shows"),
    ("avg_wait_min", "Chờ TB (phút)", "Avg wait (min)"),
    ("max_wait_min", "Chờ lâu nhất (phút)", "Max wait (min)"),
    ("avg_service_min", "Phục vụ TB (phút)", "Avg service (min)"),
    ("service_level_pct", "Đúng hạn (%)", "Service level (%)"),
    ("r1", "Mức 1", "Level 1"), ("r2", "Mức 2", "Level 2"), ("r3", "Mức 3", "Level 3"),
    ("r4", "Mức 4", "Level 4"), ("r5", "Mức 5", "Level 5"),
    ("satisfaction_pct", "Hài lòng (%)", "Satisfied (%)"),
    ("misuse", "Bấm bất thường", "Misuse presses"),
    ("present_min", "Có mặt (phút)", "Present (min)"),
    ("open_min", "Giờ làm việc (phút)", "Opening hours (min)"),
    ("presence_pct", "Tỷ lệ có mặt (%)", "Presence (%)"),
]

CHART_TITLES = {
    "arrivals": "Lượt đến theo giờ / Arrivals by hour",
    "waits": "Thời gian chờ TB theo giờ / Average wait by hour",
    "satisfaction": "Mức hài lòng theo thời gian / Satisfaction over time",
    "occupancy": "Tỷ lệ có mặt tại quầy / Desk occupancy through the day",
}
HOUR_AXIS = "Giờ trong ngày / Hour of day"


def t(lang: str) -> dict[str, str]:
    i = 1 if lang == "en" else 0
    return {k: v[i] for k, v in L.items()}


def _num(v: float | None, digits: int = 1) -> str:
    """Rounded half up, as managers round by hand (16.25 -> 16.3); "-" when unknown."""
    if v is None:
        return "-"
    q = Decimal(1).scaleb(-digits)
    return str(Decimal(repr(v)).quantize(q, rounding=ROUND_HALF_UP))


def row_cells(row: ReportRow) -> dict[str, str]:
    """A row's figures as text (minutes and percentages; "-" when not known or not applicable)."""
    m = (lambda s: None if s is None else s / 60)
    pct = (lambda x: None if x is None else 100 * x)
    cells = {
        "issued": "-" if row.issued is None else str(row.issued), "served": str(row.served),
        "no_shows": str(row.no_shows), "avg_wait_min": _num(m(row.avg_wait_s)),
        "max_wait_min": _num(m(row.max_wait_s)), "avg_service_min": _num(m(row.avg_service_s)),
        "service_level_pct": _num(pct(row.service_level)), "satisfaction_pct": _num(pct(row.satisfaction_rate)),
        "misuse": str(row.misuse_count), "present_min": _num(row.present_minutes, 0),
        "open_min": _num(row.open_minutes, 0), "presence_pct": _num(pct(row.presence_share)),
    }
    for level in range(1, 6):
        cells[f"r{level}"] = str(row.ratings_by_level.get(level, 0))
    return cells


def key_label(report: Report, row: ReportRow, lang: str) -> str:
    tr = t(lang)
    if row.key == "total":
        return tr["total"]
    if row.key == "all":
        return tr["all"]
    if row.key is None:
        return tr["unknown"]
    if report.by == "service" and row.key in report.service_names:
        vi, en = report.service_names[str(row.key)]
        return f"{row.key} · {en if lang == 'en' else vi}"
    if report.by == "desk":
        return f"{tr['desk']} {row.key}"
    return str(row.key)


def report_csv(report: Report, lang: str = "vi") -> bytes:
    """UTF-8 with a BOM (Excel then shows Vietnamese), bilingual header, one line per row plus the total."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    by_vi, by_en = L[report.by]
    w.writerow(["Kỳ / Period", f"{by_vi} / {by_en}"] + [f"{vi} / {en}" for _, vi, en in COLUMNS])
    for row in [*report.rows, report.total]:
        cells = row_cells(row)
        key = key_label(report, row, lang)
        if key[:1] in ("=", "+", "-", "@"):  # a name Excel would run as a formula
            key = "'" + key
        w.writerow([report.period.label, key] + [cells[c] for c, _, _ in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# -- inline SVG charts -----------------------------------------------------------------------------------

W, H, ML, MR, MT, MB = 680, 270, 56, 16, 14, 52


def _nice(v: float) -> float:
    if v <= 0:
        return 1.0
    for step in (1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 100000):
        if v <= step * 4:
            return step * 4
    return v


def _svg_open(chart: str, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" '
            f'aria-labelledby="{chart}-t" class="chart"><title id="{chart}-t">{escape(title)}</title>')


def _axes(top: float, y_label: str, x_label: str, fmt: Callable[[float], str]) -> list[str]:
    ph = H - MT - MB
    parts = []
    for i in range(5):
        y = MT + ph - ph * i / 4
        parts.append(f'<line x1="{ML}" x2="{W - MR}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{ML - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{fmt(top * i / 4)}</text>')
    parts.append(f'<text x="{(ML + W - MR) / 2:.0f}" y="{H - 6}" text-anchor="middle" class="axis">'
                 f'{escape(x_label)}</text>')
    parts.append(f'<text transform="translate(13 {MT + ph / 2:.0f}) rotate(-90)" text-anchor="middle" '
                 f'class="axis">{escape(y_label)}</text>')
    return parts


def bar_chart(chart: str, points: list[tuple[str, float | None]], y_label: str, x_label: str,
              fmt: Callable[[float], str] = lambda v: f"{v:g}") -> str:
    title = CHART_TITLES[chart]
    top = _nice(max((v for _, v in points if v is not None), default=0))
    pw, ph = W - ML - MR, H - MT - MB
    parts = [_svg_open(chart, title), *_axes(top, y_label, x_label, fmt)]
    n = max(len(points), 1)
    bw = pw / n
    for i, (label, v) in enumerate(points):
        x = ML + i * bw
        if v:
            h = ph * v / top
            parts.append(f'<rect x="{x + bw * 0.15:.1f}" y="{MT + ph - h:.1f}" width="{bw * 0.7:.1f}" '
                         f'height="{h:.1f}" class="bar"><title>{escape(label)}: {fmt(v)}</title></rect>')
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{MT + ph - h - 3:.1f}" text-anchor="middle" '
                         f'class="val">{fmt(v)}</text>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{H - MB + 15}" text-anchor="middle" class="tick">'
                     f'{escape(label)}</text>')
    return "".join(parts) + "</svg>"


def line_chart(chart: str, points: list[tuple[str, float | None]], y_label: str, x_label: str,
               top: float = 100.0, fmt: Callable[[float], str] = lambda v: f"{v:g}") -> str:
    title = CHART_TITLES[chart]
    pw, ph = W - ML - MR, H - MT - MB
    parts = [_svg_open(chart, title), *_axes(top, y_label, x_label, fmt)]
    n = len(points)
    step = pw / max(n - 1, 1)
    every = max(1, n // 12)
    path: list[str] = []
    for i, (label, v) in enumerate(points):
        x = ML + (i * step if n > 1 else pw / 2)
        if i % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{H - MB + 15}" text-anchor="middle" class="tick">'
                         f'{escape(label[5:] if len(label) == 10 else label)}</text>')
        if v is None:
            if len(path) > 1:
                parts.append(f'<polyline points="{" ".join(path)}" class="line"/>')
            path = []
            continue
        y = MT + ph - ph * min(v, top) / top
        path.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="dot"><title>{escape(label)}: '
                     f'{fmt(v)}</title></circle>')
    if len(path) > 1:
        parts.append(f'<polyline points="{" ".join(path)}" class="line"/>')
    return "".join(parts) + "</svg>"


def heatmap(chart: str, desks: dict[int, dict[int, float]], desk_word: str) -> str:
    title = CHART_TITLES[chart]
    hours = sorted({h for row in desks.values() for h in row})
    if not desks or not hours:
        return _svg_open(chart, title) + f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="axis">–</text></svg>'
    cw = (W - ML - MR) / len(hours)
    ch = min(28.0, (H - MT - MB) / len(desks))
    parts = [_svg_open(chart, title)]
    for j, (desk, row) in enumerate(sorted(desks.items())):
        y = MT + j * ch
        parts.append(f'<text x="{ML - 6}" y="{y + ch / 2 + 4:.1f}" text-anchor="end" class="tick">'
                     f'{escape(desk_word)} {desk}</text>')
        for i, h in enumerate(hours):
            share = row.get(h)
            if share is None:
                continue
            g = int(235 - 150 * share)
            fill = f"rgb({g},{int(245 - 90 * share)},{g})"
            x = ML + i * cw
            txt = "#fff" if share > 0.6 else "#1d2733"
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cw - 1:.1f}" height="{ch - 1:.1f}" '
                         f'fill="{fill}"><title>{escape(desk_word)} {desk}, {h:02d}:00: {share:.0%}</title></rect>')
            parts.append(f'<text x="{x + cw / 2:.1f}" y="{y + ch / 2 + 4:.1f}" text-anchor="middle" class="val" '
                         f'style="fill:{txt}">{round(share * 100)}</text>')
    base = MT + len(desks) * ch
    for i, h in enumerate(hours):
        parts.append(f'<text x="{ML + i * cw + cw / 2:.1f}" y="{base + 14:.1f}" text-anchor="middle" '
                     f'class="tick">{h}h</text>')
    parts.append(f'<text x="{(ML + W - MR) / 2:.0f}" y="{base + 32:.1f}" text-anchor="middle" class="axis">'
                 f'{escape(HOUR_AXIS)} (%)</text>')
    return "".join(parts) + "</svg>"


def _hour_range(*hour_sets: set[int], opening: dict[str, list[tuple[str, str]]] | None) -> list[int]:
    hs: set[int] = set().union(*hour_sets)
    for spans in (opening or {}).values():
        for a, b in spans:
            hs.add(int(a[:2]))
            hs.add(max(int(a[:2]), int(b[:2]) - (1 if b.endswith(":00") else 0)))
    if not hs:
        return list(range(7, 18))
    return list(range(min(hs), max(hs) + 1))


def charts_svg(conn: sqlite3.Connection, period: Period, report: Report, tz: str, site: str | None,
               now: float | None, lang: str) -> tuple[str, dict[str, Any]]:
    """The four figures (HTML) and their data (for the JSON API)."""
    arrivals = arrivals_by_hour(conn, period, tz, site)
    waits = waits_by_hour(conn, period, tz, site)
    sat = satisfaction_over_time(conn, period, report.satisfaction_levels, tz, site)
    occ = occupancy_by_hour(conn, period, tz, site, now)
    hours = _hour_range(set(arrivals), set(waits), opening=site_facts(conn, site).hours)
    x_time = "Giờ / Hour" if period.kind == "day" else "Ngày / Day"
    figs = {
        "arrivals": bar_chart("arrivals", [(f"{h}h", arrivals.get(h, 0)) for h in hours],
                              "Số phiếu / Tickets", HOUR_AXIS, lambda v: f"{v:g}"),
        "waits": bar_chart("waits", [(f"{h}h", waits[h][0] / 60 if h in waits else None) for h in hours],
                           "Phút / Minutes", HOUR_AXIS + " (giờ lấy số / hour of issue)", lambda v: f"{v:.0f}"),
        "satisfaction": line_chart("satisfaction", [(p.label, None if p.rate is None else 100 * p.rate)
                                                    for p in sat], "% hài lòng / % satisfied", x_time,
                                   fmt=lambda v: f"{v:.0f}"),
        "occupancy": heatmap("occupancy", occ, t(lang)["desk"]),
    }
    html = "".join(f'<figure id="chart-{k}" class="chart-box"><figcaption>{escape(CHART_TITLES[k])}</figcaption>'
                   f'{svg}</figure>' for k, svg in figs.items())
    data = {"arrivals_by_hour": {str(h): n for h, n in sorted(arrivals.items())},
            "waits_by_hour": {str(h): {"avg_wait_s": a, "tickets": n} for h, (a, n) in waits.items()},
            "satisfaction_over_time": [{"label": p.label, "ratings": p.ratings, "satisfied": p.satisfied,
                                        "rate": p.rate} for p in sat],
            "occupancy_by_hour": {str(d): {str(h): s for h, s in row.items()} for d, row in occ.items()}}
    return html, data


# -- the page ------------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,"Noto Sans",sans-serif;margin:0;background:#f4f6f8;color:#1d2733}
header{display:flex;gap:1em;align-items:center;background:#8b1a1a;color:#fff;padding:.5em 1em}
header h1{font-size:1.2em;margin:0;flex:1}header a{color:#fff}
main{padding:1em}section{background:#fff;border-radius:6px;padding:.5em 1em;margin-bottom:1em}
form.query{display:flex;flex-wrap:wrap;gap:.8em;align-items:end}form.query label{display:flex;flex-direction:column;font-size:.85em}
table{border-collapse:collapse;width:100%;font-size:.85em}td,th{border-bottom:1px solid #e3e6ea;padding:.25em .35em;text-align:right}
th:first-child,td:first-child{text-align:left}tr.total td{font-weight:700;border-top:2px solid #1d2733}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:1em}
figure{margin:0;background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:.4em}
figcaption{font-weight:600;margin-bottom:.3em}
svg .grid{stroke:#e3e6ea}svg .bar{fill:#2e6da4}svg .line{fill:none;stroke:#8b1a1a;stroke-width:2}
svg .dot{fill:#8b1a1a}svg .tick{font-size:11px;fill:#555}svg .axis{font-size:12px;fill:#1d2733}
svg .val{font-size:10px;fill:#1d2733}.meta,.notes{font-size:.85em;color:#555}.actions a,.actions button{margin-right:.8em}
@page{size:A4 portrait;margin:12mm}
@media print{body{background:#fff}header{background:#fff;color:#000;border-bottom:2px solid #000}
header a,form.query,.actions,.noprint{display:none!important}main{padding:0}section{padding:0;margin:0 0 4mm}
table{font-size:7.5pt}td,th{padding:1pt 2pt}.charts{display:block}
figure{break-inside:avoid;page-break-inside:avoid;border:none;margin:0 0 4mm;width:100%}
svg .bar{fill:#555}svg .line{stroke:#000}svg .dot{fill:#000}}
"""


def report_page(report: Report, charts_html: str, lang: str, query: dict[str, str], generated: datetime) -> str:
    tr = t(lang)
    other = "en" if lang == "vi" else "vi"
    q = {k: v for k, v in query.items() if k != "lang"}
    opts = lambda name, values, cur: "".join(  # noqa: E731
        f'<option value="{v}"{" selected" if v == cur else ""}>{escape(tr[v] if v in tr else v)}</option>'
        for v in values)
    head = f'<th>{escape(tr[report.by])}</th>' + "".join(
        f'<th>{escape(en if lang == "en" else vi)}</th>' for _, vi, en in COLUMNS)
    body = []
    for row in [*report.rows, report.total]:
        cells = row_cells(row)
        cls = ' class="total"' if row.key == "total" else ""
        body.append(f"<tr{cls}><td>{escape(key_label(report, row, lang))}</td>"
                    + "".join(f"<td>{escape(cells[c])}</td>" for c, _, _ in COLUMNS) + "</tr>")
    empty = "" if report.rows else f'<p class="notes">{escape(tr["no_data"])}</p>'
    span = tr["from_to"].format(start=report.start.strftime("%Y-%m-%d %H:%M"),
                                end=report.end.strftime("%Y-%m-%d %H:%M"))
    levels = query.get("levels", str(report.satisfaction_levels))
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(tr["title"])} {escape(report.period.label)}</title><style>{CSS}</style></head>
<body><header><h1>{escape(tr["title"])} · {escape(tr[report.period.kind])} {escape(report.period.label)}</h1>
<a href="/">{escape(tr["dashboard"])}</a>
<a id="lang" href="/reports?{escape(urlencode({**q, "lang": other}))}">{escape(dash_labels(lang)["language"])}</a>
</header><main>
<section><form class="query" method="get" action="/reports">
<label>{escape(tr["period"])}<select name="period" id="period">{opts("period", PERIOD_KINDS, report.period.kind)}</select></label>
<label>{escape(tr["date"])}<input type="date" name="date" id="date" value="{report.period.anchor.isoformat()}"></label>
<label>{escape(tr["by"])}<select name="by" id="by">{opts("by", GROUPS, report.by)}</select></label>
<label>{escape(tr["levels"])}<input type="number" name="levels" min="1" max="5" value="{escape(levels)}"></label>
<button type="submit">{escape(tr["show"])}</button></form>
<p class="actions"><a id="csv" href="/reports.csv?{escape(urlencode(q | {"lang": lang}))}">{escape(tr["csv"])}</a>
<button type="button" id="print" onclick="window.print()">{escape(tr["print"])}</button></p>
<p class="meta">{escape(span)} · {escape(tr["tz"])}: {escape(report.tz)}{" · " + escape(report.site) if report.site else ""}
 · {escape(tr["generated"])}: {generated.strftime("%Y-%m-%d %H:%M")}</p></section>
<section id="report-table"><h2>{escape(tr["table"])}</h2>
<table id="report"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{empty}
<p class="notes">{escape(tr["notes"])}</p></section>
<section id="report-charts"><h2>{escape(tr["charts"])}</h2><div class="charts">{charts_html}</div></section>
</main></body></html>"""


# -- routes --------------------------------------------------------------------------------------------

class Built(NamedTuple):
    conn: sqlite3.Connection
    period: Period
    report: Report
    now: float


def report_routes(get_conn: Callable[[], sqlite3.Connection], require_login: Callable[[Request], str | None], *,
                  tz: str = DEFAULT_TZ, site: str | None = None, clock: Clock | None = None) -> list[Route]:
    """``GET /reports`` (HTML), ``GET /reports.csv``, ``GET /api/reports`` (JSON), all behind the login."""
    clock = clock or SystemClock(tz)
    z = zone(tz)

    def refused() -> JSONResponse:
        vi, en = dash_labels("vi")["unauthorized"], dash_labels("en")["unauthorized"]
        return JSONResponse({"error": "unauthorized", "message_vi": vi, "message_en": en}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="motcua"'})

    def bad(exc: BadReportQuery) -> JSONResponse:
        return JSONResponse({"error": "bad_query", "message": str(exc)}, status_code=400)

    def lang_of(request: Request) -> str:
        return pick_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))

    def build(request: Request) -> Built:
        qp = request.query_params
        now = clock.now()
        period = Period.parse(qp.get("period"), qp.get("date"), now.astimezone(z).date())
        try:
            levels = int(qp.get("levels") or 2)
        except ValueError:
            raise BadReportQuery(f"Số mức phải là số nguyên 1-5 / levels={qp.get('levels')!r} is not a whole "
                                 "number (1-5)") from None
        conn = get_conn()
        report = build_report(conn, period, qp.get("by") or "service", levels, tz, site=site,
                              now=now.timestamp())
        return Built(conn, period, report, now.timestamp())

    def built(request: Request, refuse: Callable[[], Response]) -> Built | Response:
        """The report the query asks for, or the answer to give instead (not logged in, bad query)."""
        if require_login(request) is None:
            return refuse()
        try:
            return build(request)
        except BadReportQuery as exc:
            return bad(exc)

    def page(request: Request) -> Response:
        lang = lang_of(request)
        b = built(request, lambda: RedirectResponse("/login", status_code=303))
        if isinstance(b, Response):
            return b
        conn, period, report, now = b
        charts, _ = charts_svg(conn, period, report, tz, site, now, lang)
        html = report_page(report, charts, lang, dict(request.query_params), clock.now().astimezone(z))
        resp = HTMLResponse(html, headers={"Cache-Control": "no-store"})
        if request.query_params.get("lang") in ("vi", "en"):
            resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
        return resp

    def csv_file(request: Request) -> Response:
        b = built(request, refused)
        if isinstance(b, Response):
            return b
        report = b.report
        name = f"bao-cao-{report.period.kind}-{report.period.label}-{report.by}.csv"
        return Response(report_csv(report, lang_of(request)), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Cache-Control": "no-store"})

    def api(request: Request) -> Response:
        b = built(request, refused)
        if isinstance(b, Response):
            return b
        conn, period, report, now = b
        _, data = charts_svg(conn, period, report, tz, site, now, lang_of(request))
        return JSONResponse({**report.as_dict(), "charts": data})

    return [Route("/reports", page), Route("/reports.csv", csv_file), Route("/api/reports", api)]
