"""The printed ticket as a 1-bit Pillow image: every glyph rendered here, so Vietnamese
diacritics print right on printers without a Vietnamese code page."""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

from .errors import KioskError

log = logging.getLogger(__name__)

PRIORITY_LABELS: dict[str, tuple[str, str]] = {
    "elderly": ("Người cao tuổi", "Elderly"),
    "disabled": ("Người khuyết tật", "Disabled"),
    "pregnant": ("Phụ nữ mang thai", "Pregnant"),
    "appointment": ("Có lịch hẹn", "Appointment"),
}


def font_dirs() -> list[Path]:
    """Kivy's bundled fonts (Roboto covers Vietnamese), then the system's DejaVu."""
    dirs = []
    spec = importlib.util.find_spec("kivy")  # locate, do not import (importing kivy sets up logging)
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "data" / "fonts")
    dirs += [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]
    return dirs


@lru_cache(maxsize=4)
def font_path(bold: bool) -> str:
    names = ["Roboto-Bold.ttf", "DejaVuSans-Bold.ttf"] if bold else ["Roboto-Regular.ttf", "DejaVuSans.ttf"]
    for d in font_dirs():
        for n in names:
            if (d / n).is_file():
                return str(d / n)
    raise KioskError("no font with Vietnamese coverage found (Roboto from Kivy or DejaVu Sans)")


@lru_cache(maxsize=64)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(bold), size)


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


def wait_text(est_wait_s: float | None) -> tuple[str, str]:
    if est_wait_s is None:
        return "—", "—"
    minutes = max(1, round(est_wait_s / 60)) if est_wait_s > 0 else 0
    return (f"khoảng {minutes} phút", f"about {minutes} min") if minutes else ("ngay", "now")


def qr_image(content: str, size_px: int) -> Image.Image:
    """A QR code as a 1-bit image, scaled by a whole factor so modules stay square and sharp."""
    q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=0)
    q.add_data(content)
    q.make(fit=True)
    img = q.make_image(fill_color="black", back_color="white").get_image().convert("1")
    factor = max(1, size_px // img.width)
    return img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)


class TicketRenderer:
    """Renders a ticket ``width_px`` wide (384 for 58 mm paper, 576 for 80 mm)."""

    def __init__(self, width_px: int = 576):
        if width_px not in (384, 576) and not 200 <= width_px <= 1000:
            raise ValueError(f"ticket width {width_px} px is not sensible (384 for 58 mm, 576 for 80 mm)")
        self.width = width_px
        self.k = width_px / 576
        self.margin = int(12 * self.k)

    def _px(self, size: float) -> int:
        return max(10, int(size * self.k))

    def _wrap(self, text: str, f: ImageFont.FreeTypeFont) -> list[str]:
        limit = self.width - 2 * self.margin
        lines: list[str] = []
        for para in text.split("\n"):
            cur = ""
            for word in para.split():
                trial = f"{cur} {word}".strip()
                if f.getlength(trial) <= limit or not cur:
                    cur = trial
                else:
                    lines.append(cur)
                    cur = word
            lines.append(cur)
        return lines

    def render(self, c: TicketContent) -> Image.Image:
        """The whole ticket as a mode "1" image (black on white), exactly ``width_px`` wide."""
        blocks: list[tuple[str, ImageFont.FreeTypeFont, int]] = []  # text, font, space after

        def add(text: str, size: float, bold: bool = False, after: float = 4) -> None:
            f = font(self._px(size), bold)
            for line in self._wrap(text, f):
                blocks.append((line, f, int(after * self.k)))

        add(c.centre_vi, 30, True, 2)
        add(c.centre_en, 22, False, 14)
        add(c.service_vi, 32, True, 2)
        add(c.service_en, 22, False, 10)
        add("SỐ CỦA BẠN / YOUR NUMBER", 24, False, 0)
        size = 190 if len(c.ticket) <= 4 else int(190 * 4 / len(c.ticket))
        add(c.ticket, size, True, 10)
        if c.priority:
            vi, en = PRIORITY_LABELS.get(c.priority, (c.priority, c.priority))
            add(f"Ưu tiên: {vi} / Priority: {en}", 24, True, 8)
        local = c.issued_at
        add(f"Giờ lấy số / Issued: {local:%H:%M  %d/%m/%Y}", 24, False, 6)
        add(f"Số người chờ trước bạn / People ahead: {c.people_ahead}", 24, False, 6)
        wvi, wen = wait_text(c.est_wait_s)
        add(f"Thời gian chờ dự kiến: {wvi}", 24, False, 2)
        add(f"Estimated wait: {wen}", 22, False, 12)
        qr = qr_image(c.qr, int(self.width * 0.5))
        footer: list[tuple[str, ImageFont.FreeTypeFont, int]] = []
        for text in ("Quét mã để tra cứu số và đánh giá", "Scan to look up your number and rate us"):
            f = font(self._px(20))
            footer += [(line, f, int(2 * self.k)) for line in self._wrap(text, f)]
        if c.offline:
            footer.append(("(ngoại tuyến / offline)", font(self._px(16)), 0))

        def line_h(f: ImageFont.FreeTypeFont) -> int:
            asc, desc = f.getmetrics()
            return asc + desc

        height = self.margin * 2 + sum(line_h(f) + a for _, f, a in blocks) + qr.height + 12 \
            + sum(line_h(f) + a for _, f, a in footer)
        img = Image.new("L", (self.width, height), 255)
        draw = ImageDraw.Draw(img)
        y = self.margin
        for text, f, after in blocks:
            w = f.getlength(text)
            draw.text(((self.width - w) / 2, y), text, font=f, fill=0)
            y += line_h(f) + after
        img.paste(qr.convert("L"), ((self.width - qr.width) // 2, y))
        y += qr.height + 12
        for text, f, after in footer:
            w = f.getlength(text)
            draw.text(((self.width - w) / 2, y), text, font=f, fill=0)
            y += line_h(f) + after
        return img.point(lambda v: 255 if v >= 128 else 0, mode="1")
