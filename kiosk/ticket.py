"""What a printed ticket says, as a list of blocks (one language per line, Vietnamese first).

:mod:`kiosk.ticket_bytes` turns the blocks into ESC/POS bytes for one printer: built-in fonts
and the printer's own QR where its capability profile has them, raster where it must.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .i18n import minutes

PRIORITY_LABELS: dict[str, tuple[str, str]] = {
    "elderly": ("Người cao tuổi", "Elderly"),
    "disabled": ("Người khuyết tật", "Disabled"),
    "pregnant": ("Phụ nữ mang thai", "Pregnant"),
    "appointment": ("Có lịch hẹn", "Appointment"),
}


@dataclass(frozen=True)
class TicketContent:
    """What one printed ticket says."""

    centre_vi: str
    centre_en: str
    service_vi: str
    service_en: str
    ticket: str
    issued_at: datetime
    people_ahead: int
    est_wait_s: float | None
    qr: str
    priority: str | None = None
    offline: bool = False


@dataclass(frozen=True)
class Line:
    """One paragraph of text in one language; ``size`` in dots at 80 mm, ``small`` for notes."""

    text: str
    size: int = 22
    bold: bool = False


@dataclass(frozen=True)
class Number:
    """The ticket label, as large as the paper allows."""

    text: str


@dataclass(frozen=True)
class QR:
    data: str


@dataclass(frozen=True)
class Feed:
    """Blank paper, in dots at 80 mm."""

    dots: int


Block = Line | Number | QR | Feed


def wait_text(est_wait_s: float | None, people_ahead: int) -> tuple[str, str]:
    """The printed estimated wait: "now" only when nobody is ahead of this ticket."""
    m = minutes(est_wait_s)
    if people_ahead == 0:
        return "không phải chờ", "no wait"
    if m is None:
        return "chưa rõ", "not known yet"
    return f"khoảng {max(1, m)} phút", f"about {max(1, m)} min"


def layout(c: TicketContent) -> list[Block]:
    """The ticket, top to bottom."""
    out: list[Block] = [Line(c.centre_vi, 24, True), Line(c.centre_en, 20), Feed(8),
                        Line(c.service_vi, 30, True), Line(c.service_en, 20, True), Feed(8),
                        Line("Số của bạn", 22), Line("Your number", 20), Number(c.ticket), Feed(4)]
    if c.priority:
        vi, en = PRIORITY_LABELS.get(c.priority, (c.priority, c.priority))
        out += [Line(f"Ưu tiên: {vi}", 22, True), Line(f"Priority: {en}", 20, True), Feed(4)]
    when = f"{c.issued_at:%H:%M  %d/%m/%Y}"
    wvi, wen = wait_text(c.est_wait_s, c.people_ahead)
    out += [Line(f"Giờ lấy số: {when}", 22), Line(f"Issued: {when}", 20),
            Line(f"Người chờ trước bạn: {c.people_ahead}", 22), Line(f"People ahead of you: {c.people_ahead}", 20),
            Line(f"Thời gian chờ dự kiến: {wvi}", 22), Line(f"Estimated wait: {wen}", 20),
            QR(c.qr),
            Line("Quét mã để tra cứu số và đánh giá", 20), Line("Scan to look up your number and rate us", 20)]
    if c.offline:
        out += [Line("(cấp ngoại tuyến)", 20), Line("(issued offline)", 20)]
    return out
