"""Evaluation sheets (phiếu đánh giá) per officer per month or quarter, and the satisfaction summary laid
out for QĐ 766/QĐ-TTg's satisfaction criterion. The figures are the report's (collector.reports: the fair
rules); this module only gathers them per officer with the previous period and the site average.

Site average: for counts (served tickets, ratings, misuse presses) the mean over the officers with any
activity in the period; for shares and times the whole site's figure (the report's total row).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from .backend import Conn
from .periods import DEFAULT_TZ, Period, zone
from .reports import Report, ReportRow, build_report, channel_of, is_satisfied, rating_rows
from .site_config import site_history
from .staff import Staff

Kind = Literal["int", "pct", "min", "dec"]
ROMAN = ("I", "II", "III", "IV")
LEVEL_NAMES = {5: ("Rất hài lòng", "Very satisfied"), 4: ("Hài lòng", "Satisfied"), 3: ("Bình thường", "Neutral"),
               2: ("Không hài lòng", "Dissatisfied"), 1: ("Rất không hài lòng", "Very dissatisfied")}
CHANNELS = {"terminal": ("tại quầy", "at the desk"), "portal": ("trực tuyến", "online")}


@dataclass
class Figure:
    key: str
    label_vi: str
    label_en: str
    kind: Kind
    now: float | None
    before: float | None
    site: float | None

    @property
    def change(self) -> float | None:
        return None if self.now is None or self.before is None else self.now - self.before


@dataclass
class EvaluationSheet:
    officer: str
    name: str | None
    department: str | None
    badge: str | None
    period: Period
    previous: Period
    site: str | None
    site_name: tuple[str, str]
    figures: list[Figure]
    measured_from: date | None
    generated_at: datetime
    levels: int = 2

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)

    @property
    def display_name(self) -> str:
        return self.name or self.officer


def period_title(p: Period) -> tuple[str, str]:
    """('Tháng 11/2026', 'November 2026'), ('Quý IV/2026', 'Q4 2026'), ..."""
    f = p.first_day
    if p.kind == "month":
        return f"Tháng {f.month:02d}/{f.year}", f.strftime("%B %Y")
    if p.kind == "quarter":
        q = (f.month - 1) // 3
        return f"Quý {ROMAN[q]}/{f.year}", f"Q{q + 1} {f.year}"
    if p.kind == "year":
        return f"Năm {f.year}", str(f.year)
    last = p.end_day.fromordinal(p.end_day.toordinal() - 1)
    span = f"{f.strftime('%d/%m/%Y')} - {last.strftime('%d/%m/%Y')}"
    return span, span


def _figures(row: ReportRow | None, before: ReportRow | None, total: ReportRow, avg: dict[str, float | None],
             levels: int) -> list[Figure]:
    def g(r: ReportRow | None, name: str) -> Any:
        return getattr(r, name) if r is not None else None

    def mins(v: float | None) -> float | None:
        return v / 60 if v is not None else None

    out = [
        Figure("served", "Số hồ sơ/phiếu đã phục vụ", "Tickets served", "int", g(row, "served") or 0,
               g(before, "served"), avg["served"]),
        Figure("no_shows", "Số phiếu vắng mặt", "No-shows", "int", g(row, "no_shows") or 0, g(before, "no_shows"),
               avg["no_shows"]),
        Figure("avg_service_min", "Thời gian phục vụ trung bình", "Average service time", "min",
               mins(g(row, "avg_service_s")), mins(g(before, "avg_service_s")), mins(total.avg_service_s)),
        Figure("satisfaction", f"Tỷ lệ hài lòng ({levels} mức cao nhất)", f"Satisfaction share (top {levels} levels)",
               "pct", g(row, "satisfaction_rate"), g(before, "satisfaction_rate"), total.satisfaction_rate),
        Figure("ratings", "Số lượt đánh giá", "Ratings", "int", g(row, "ratings") or 0, g(before, "ratings"),
               avg["ratings"]),
        Figure("response_rate", "Tỷ lệ phản hồi (đánh giá / phục vụ)", "Response rate (ratings / served)",
               "pct", g(row, "response_rate"), g(before, "response_rate"), total.response_rate),
    ]
    for ch, (vi, en) in CHANNELS.items():
        def rate(r: ReportRow | None, c: str = ch) -> float | None:
            return r.ratings_by_channel.get(c, 0) / r.served if r is not None and r.served else None
        out.append(Figure(f"response_{ch}", f"  - phản hồi {vi}", f"response {en}", "pct", rate(row), rate(before),
                          rate(total)))
    for lv in range(5, 0, -1):
        vi, en = LEVEL_NAMES[lv]
        def cnt(r: ReportRow | None, level: int = lv) -> float | None:
            return r.ratings_by_level.get(level, 0) if r is not None else None
        out.append(Figure(f"level_{lv}", f"Mức {lv}: {vi}", f"Level {lv}: {en}", "int", cnt(row) or 0, cnt(before),
                          avg[f"level_{lv}"]))
    out += [
        Figure("misuse", "Bấm bất thường (không tính)", "Misuse presses (not counted)", "int",
               g(row, "misuse_count") or 0, g(before, "misuse_count"), avg["misuse_count"]),
        Figure("presence", "Tỷ lệ có mặt tại quầy", "Presence share at the desk", "pct", g(row, "presence_share"),
               g(before, "presence_share"), total.presence_share),
        Figure("present_min", "Thời gian có mặt (phút)", "Present (min)", "dec", g(row, "present_minutes"),
               g(before, "present_minutes"), avg["present_minutes"]),
        Figure("expected_min", "Thời gian phải có mặt (phút)", "Expected at the desk (min)", "dec",
               g(row, "open_minutes"), g(before, "open_minutes"), avg["open_minutes"]),
    ]
    return out


def _averages(rep: Report) -> dict[str, float | None]:
    active = [r for r in rep.rows if r.key is not None and (r.served or r.ratings or r.present_minutes)]
    out: dict[str, float | None] = {}
    names = ["served", "no_shows", "ratings", "misuse_count", "present_minutes", "open_minutes"]
    for n in names + [f"level_{i}" for i in range(1, 6)]:
        vals = [(r.ratings_by_level.get(int(n[-1]), 0) if n.startswith("level_") else getattr(r, n)) for r in active]
        nums = [float(v) for v in vals if v is not None]
        out[n] = sum(nums) / len(nums) if nums else None
    return out


def evaluation_sheets(conn: Conn, period: Period, staff: Staff | None = None, *,
                      tz: str = DEFAULT_TZ, site: str | None = None, now: float | None = None,
                      levels: int = 2, officers: list[str] | None = None) -> list[EvaluationSheet]:
    """One sheet per officer (the directory's and every officer seen in the period), sorted by name."""
    staff = staff or Staff()
    rep = build_report(conn, period, "officer", levels, tz, site=site, now=now, staff=staff)
    prev = build_report(conn, period.previous(), "officer", levels, tz, site=site, now=now, staff=staff)
    avg = _averages(rep)
    hist = site_history(conn, site)
    names = _site_name(conn, hist.site)
    ids = officers if officers is not None else sorted(
        set(staff.officers) | {str(r.key) for r in rep.rows if r.key is not None})
    generated = datetime.fromtimestamp(now, zone(tz)) if now is not None else datetime.now(zone(tz))
    sheets = [EvaluationSheet(o, staff.name(o), staff.department(o), staff.badge(o), period, period.previous(),
                              hist.site, names, _figures(rep.row(o), prev.row(o), rep.total, avg, levels),
                              rep.measured_from, generated, levels) for o in ids]
    return sorted(sheets, key=lambda s: (s.name is None, s.name or s.officer))


def _site_name(conn: Conn, site: str | None) -> tuple[str, str]:
    w, a = (" AND site=?", [site]) if site else ("", [])
    row = conn.execute(f"SELECT payload FROM retained_state WHERE name='site' AND device IS NULL{w} "
                       "ORDER BY received_epoch DESC, topic LIMIT 1", a).fetchone()
    try:
        d = json.loads(row[0]) if row else {}
        return str(d.get("name_vi") or site or ""), str(d.get("name_en") or site or "")
    except ValueError:
        return site or "", site or ""


# -- the satisfaction summary (QĐ 766/QĐ-TTg) --------------------------------------------------------

@dataclass
class SatisfactionLine:
    key: str
    label_vi: str
    label_en: str
    ratings: int
    satisfied: int
    served: int
    by_level: dict[int, int] = field(default_factory=dict)

    @property
    def share(self) -> float | None:
        return self.satisfied / self.ratings if self.ratings else None

    @property
    def response_rate(self) -> float | None:
        return self.ratings / self.served if self.served else None


@dataclass
class SatisfactionSummary:
    """The satisfaction criterion of the indicator set for serving citizens and businesses (Bộ chỉ số
    chỉ đạo, điều hành và đánh giá chất lượng phục vụ người dân, doanh nghiệp, QĐ 766/QĐ-TTg ngày
    23/6/2022): how many were asked, how many answered, how many were satisfied, by procedure area
    (lĩnh vực) and by channel. The points of the criterion are worked out by the province from these
    counts; this sheet gives the counts and shares, not the points."""

    period: Period
    levels: int
    total: SatisfactionLine
    by_service: list[SatisfactionLine]
    by_channel: list[SatisfactionLine]
    site_name: tuple[str, str]


def satisfaction_summary(conn: Conn, period: Period, *, tz: str = DEFAULT_TZ,
                         site: str | None = None, levels: int = 2, now: float | None = None) -> SatisfactionSummary:
    rep = build_report(conn, period, "service", levels, tz, site=site, now=now)

    def line(key: str, vi: str, en: str, r: ReportRow) -> SatisfactionLine:
        sat = round((r.satisfaction_rate or 0.0) * r.ratings)
        return SatisfactionLine(key, vi, en, r.ratings, sat, r.served, dict(r.ratings_by_level))

    by_service = []
    for r in rep.rows:
        vi, en = rep.service_names.get(str(r.key), (str(r.key), str(r.key)))
        by_service.append(line(str(r.key), vi, en, r))
    t = rep.total
    start, end = period.epochs(zone(tz))
    per: dict[str, SatisfactionLine] = {ch: SatisfactionLine(ch, f"Đánh giá {vi}", f"Rated {en}", 0, 0, t.served,
                                                             {i: 0 for i in range(1, 6)})
                                        for ch, (vi, en) in CHANNELS.items()}
    for rr in rating_rows(conn, start, end, site):
        if rr["misuse"]:
            continue
        ln = per[channel_of(rr["device"], rr["channel"])]
        ln.ratings += 1
        ln.satisfied += is_satisfied(rr["score"], rr["scale"], levels)
        ln.by_level[int(rr["score"])] += 1
    by_channel = list(per.values())
    return SatisfactionSummary(period, levels, line("total", "Toàn đơn vị", "Whole site", t), by_service, by_channel,
                               _site_name(conn, rep.site))
