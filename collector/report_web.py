"""What the managers' reports show on the web, apart from the page itself: the labels, the table
cells, the CSV for Excel and the four inline SVG charts (no inline style: CSP ``style-src 'self'``).

The routes are in ``collector/web/reports.py``, the page in ``collector/templates/reports.html``.
"""
from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import Any, Callable

from .backend import Conn
from .report_series import arrivals_by_hour, occupancy_by_hour, satisfaction_over_time, waits_by_hour
from .reports import Period, Report, ReportRow, site_facts

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
    if report.by == "officer" and row.name:  # from the officer directory
        return f"{row.name} ({row.key})"
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
            cls = "val on-dark" if share > 0.6 else "val"
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cw - 1:.1f}" height="{ch - 1:.1f}" '
                         f'fill="{fill}"><title>{escape(desk_word)} {desk}, {h:02d}:00: {share:.0%}</title></rect>')
            parts.append(f'<text x="{x + cw / 2:.1f}" y="{y + ch / 2 + 4:.1f}" text-anchor="middle" class="{cls}">'
                         f'{round(share * 100)}</text>')
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


def charts_svg(conn: Conn, period: Period, report: Report, tz: str, site: str | None,
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
