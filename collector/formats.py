"""How figures read for a manager: Vietnamese first, English second.

- durations: ``4 phút 38 giây`` / ``4 min 38 s`` (hours when there are: ``1 giờ 05 phút``);
- dates: ``23/11/2026``; times ``09:05 23/11/2026``;
- numbers: Vietnamese decimal comma and thousands dot (``1.234,5``), shares as ``87,5 %``;
- the number formats of the XLSX exports (Excel shows them by the reader's locale; the format codes
  below ask for dd/mm/yyyy and one decimal).
"""
from __future__ import annotations

from datetime import date, datetime

XLSX_DATE = "dd/mm/yyyy"
XLSX_DATETIME = "dd/mm/yyyy hh:mm"
XLSX_INT = "#,##0"
XLSX_DEC = "#,##0.0"
XLSX_PCT = "0.0%"
XLSX_DURATION = "[h]:mm:ss"  # a duration cell holds days (seconds / 86400)


def duration(seconds: float | None, lang: str = "vi") -> str:
    """``278`` -> ``4 phút 38 giây`` (vi) or ``4 min 38 s`` (en); None -> ``-``."""
    if seconds is None:
        return "-"
    s = int(round(max(0.0, seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if lang == "en":
        return f"{h} h {m:02d} min" if h else (f"{m} min {sec} s" if m else f"{sec} s")
    return f"{h} giờ {m:02d} phút" if h else (f"{m} phút {sec} giây" if m else f"{sec} giây")


def duration_both(seconds: float | None) -> str:
    return "-" if seconds is None else f"{duration(seconds, 'vi')} / {duration(seconds, 'en')}"


def day(d: date | datetime | None) -> str:
    return "-" if d is None else d.strftime("%d/%m/%Y")


def moment(t: datetime | None) -> str:
    return "-" if t is None else t.strftime("%H:%M %d/%m/%Y")


def number(x: float | int | None, decimals: int = 0, lang: str = "vi") -> str:
    """``1234.5`` -> ``1.234,5`` (vi) or ``1,234.5`` (en)."""
    if x is None:
        return "-"
    text = f"{x:,.{decimals}f}"
    return text.translate(str.maketrans(",.", ".,")) if lang == "vi" else text


def share(x: float | None, lang: str = "vi") -> str:
    """``0.875`` -> ``87,5 %``."""
    return "-" if x is None else f"{number(x * 100, 1, lang)} %"


def change(now: float | None, before: float | None, pct: bool = False, lang: str = "vi") -> str:
    """The change from ``before`` to ``now``: ``+2,5 điểm %`` for shares, ``+12`` for counts."""
    if now is None or before is None:
        return "-"
    d = now - before
    sign = "+" if d > 0 else ("±" if d == 0 else "-")
    if pct:
        return f"{sign}{number(abs(d) * 100, 1, lang)} {'điểm %' if lang == 'vi' else 'pt'}"
    return f"{sign}{number(abs(d), 1 if isinstance(d, float) and d != int(d) else 0, lang)}"
