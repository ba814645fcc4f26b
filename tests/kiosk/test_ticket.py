"""The ticket's bytes, read back by an independent ESC/POS interpreter: size per ticket for
raster-only and profile-assisted printers at 58 and 80 mm, ESC @ first, the QR readable (also
from a worn copy) with a 4-module quiet zone, and tone marks that survive on 58 mm paper."""
from __future__ import annotations

import unicodedata
from datetime import datetime

import cv2
import numpy as np
import pytest
from escpos.printer import Dummy
from PIL import Image, ImageDraw

from kiosk.glyphs import font, line_box, render_line
from kiosk.ticket import TicketContent
from kiosk.ticket_bytes import MODULE_DOTS, QUIET, Capabilities, TicketRenderer
from tests.kiosk.escpos_decode import decode_qr, decode_qr_gray, degrade, print_out
from tests.kiosk.helpers import TZ

URL = "https://dichvucong.example.vn/ve/camau-hcc/2026-11-23/1023"
CONTENT = TicketContent(
    centre_vi="Trung tâm Phục vụ Hành chính công tỉnh Cà Mau", centre_en="Ca Mau Public Administrative Service Centre",
    service_vi="Đăng ký kinh doanh", service_en="Business registration", ticket="1023",
    issued_at=datetime(2026, 11, 23, 9, 15, tzinfo=TZ), people_ahead=3, est_wait_s=900.0, qr=URL, priority="elderly")
OLD_BYTES_80MM = 71_020  # one full-width raster, measured before this renderer (issue 21)


def caps_for(profile: str, width: int, mode: str = "auto") -> Capabilities:
    return Capabilities.from_profile(Dummy(profile=profile).profile, width, mode)


PRINTERS = {  # name: (profile, mode)
    "raster-only": ("simple", "raster"),
    "fonts, no QR (POS-5890)": ("POS-5890", "auto"),
    "fonts and QR (TM-T20II)": ("TM-T20II", "auto"),
}
LIMITS = {  # bytes per ticket, (58 mm, 80 mm)
    "raster-only": (22_000, 30_000),
    "fonts, no QR (POS-5890)": (10_000, 12_000),
    "fonts and QR (TM-T20II)": (9_000, 10_000),
}


@pytest.mark.parametrize("name", list(PRINTERS))
@pytest.mark.parametrize("width", [384, 576])
def test_bytes_per_ticket_and_the_printout(name: str, width: int, artifacts) -> None:
    profile, mode = PRINTERS[name]
    caps = caps_for(profile, width, mode)
    data = TicketRenderer(width, caps).encode(CONTENT)
    limit = LIMITS[name][0 if width == 384 else 1]
    assert len(data) <= limit, f"{name} at {width} px: {len(data)} bytes > {limit}"
    if width == 576 and caps.native_text:
        assert len(data) <= 15_000
    paper = print_out(data, width)
    assert data.startswith(b"\x1b@") and paper.resets == 1
    assert paper.bitmap.shape[1] == width
    bitmap = paper.bitmap
    assert decode_qr(bitmap) == URL
    assert decode_qr_gray(degrade(bitmap)) == URL, "the QR does not read from a half-resolution blurred copy"
    if caps.native_text:  # English, digits and the label in the printer's own font
        assert "1023" in paper.texts and "Estimated wait: about 15 min" in paper.texts
        assert any("Ca Mau Public" in t for t in paper.texts)
    else:
        assert paper.texts == []
    assert paper.native_qr == ([URL] if caps.native_qr else [])
    (artifacts / "kiosk").mkdir(exist_ok=True)
    Image.fromarray(np.where(bitmap, 0, 255).astype("uint8")).save(
        artifacts / "kiosk" / f"ticket-{width}px-{profile}-{mode}.png")


def test_profile_decides_what_is_native() -> None:
    assert caps_for("TM-T20II", 576) == Capabilities(native_text=True, native_qr=True, columns=48)
    assert caps_for("POS-5890", 384) == Capabilities(native_text=True, native_qr=False, columns=32)
    assert caps_for("TM-T20II", 576, "raster") == Capabilities(columns=48)


@pytest.mark.parametrize("width", [384, 576])
@pytest.mark.parametrize("native_qr", [False, True])
def test_qr_has_a_four_module_quiet_zone(width: int, native_qr: bool) -> None:
    caps = Capabilities(native_text=native_qr, native_qr=native_qr, columns=width // 12)
    bitmap = print_out(TicketRenderer(width, caps).encode(CONTENT), width).bitmap
    gray = np.where(bitmap, 0, 255).astype(np.uint8)
    ok, pts = cv2.QRCodeDetector().detect(cv2.copyMakeBorder(gray, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255))
    assert ok
    x0, y0 = (pts[0].min(axis=0) - 40).round().astype(int)
    x1, y1 = (pts[0].max(axis=0) - 40).round().astype(int)
    ys, xs = np.nonzero(bitmap[y0 - 3:y1 + 4, x0 - 3:x1 + 4])  # the symbol's own ink, exactly
    y0, y1, x0, x1 = y0 - 3 + ys.min(), y0 - 3 + ys.max() + 1, x0 - 3 + xs.min(), x0 - 3 + xs.max() + 1
    assert (x1 - x0) % MODULE_DOTS == 0 and (y1 - y0) == (x1 - x0)
    q = QUIET * MODULE_DOTS
    assert y0 >= q and x0 >= q and x1 + q <= width
    around = bitmap[y0 - q:y1 + q, x0 - q:x1 + q].copy()
    around[q:-q, q:-q] = False
    assert not around.any(), f"ink inside the QR's quiet zone at {np.argwhere(around)[:3].tolist()}"


# -- tone marks on 58 mm -----------------------------------------------------------------------

WORDS = ["tỉnh", "lấy số", "để", "người chờ", "Quét mã", "dự kiến", "Ưu tiên", "khoảng", "Giờ lấy số", "Đăng ký"]


def base(word: str) -> str:
    """The word without its tone and vowel marks: the glyphs a mark sits on."""
    return "".join(ch for ch in unicodedata.normalize("NFD", word) if not unicodedata.combining(ch)).replace(
        "ư", "u").replace("ơ", "o").replace("Ư", "U").replace("đ", "d").replace("Đ", "D")


def reference(word: str, size: int, bold: bool, shape: tuple[int, int]) -> np.ndarray:
    """Coverage (0..1) of a smooth rendering at 8x, averaged down to the paper's dots."""
    k = 8
    f = font(size * k, bold)
    top, _ = line_box(font(size, bold))
    img = Image.new("L", (shape[1] * k, shape[0] * k), 0)
    ImageDraw.Draw(img).text((k, -top * k), word, font=f, fill=255)
    a = np.asarray(img, dtype=float) / 255
    return a.reshape(shape[0], k, shape[1], k).mean(axis=(1, 3))


def lost_marks(render, word: str, size: int, bold: bool, keep: float = 0.75) -> list[str]:
    """Marks of the reference rendering that ``render(text) -> ink array`` prints with less than
    ``keep`` of their ink (a 50 % threshold thins or drops the hairlines of hooks and tildes)."""
    ink, plain = render(word), render(base(word))
    shape = (ink.shape[0], max(ink.shape[1], plain.shape[1]))
    ink = np.pad(ink, ((0, 0), (0, shape[1] - ink.shape[1])))
    plain = np.pad(plain, ((0, 0), (0, shape[1] - plain.shape[1])))
    cov = reference(word, size, bold, shape)
    ref_plain = cv2.dilate((reference(base(word), size, bold, shape) > 0.15).astype(np.uint8),
                           np.ones((3, 3))).astype(bool)
    marks = ((cov > 0.3) & ~ref_plain).astype(np.uint8)
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(marks, connectivity=8)
    got = ink & ~plain
    lost = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area < 2:
            continue
        box = (slice(max(0, y - 1), y + h + 1), slice(max(0, x - 1), x + w + 1))
        mass = float((cov[box] * ~ref_plain[box]).sum())
        if got[box].sum() < keep * mass:
            lost.append(f"{word}@({x},{y}): {int(got[box].sum())} of {mass:.1f} dots")
    return lost


@pytest.mark.parametrize("bold", [False, True])
def test_tone_marks_survive_at_58mm(bold: bool) -> None:
    r = TicketRenderer(384, Capabilities(columns=32))
    size = r.size(20)  # the smallest text on a 58 mm ticket

    def ours(text: str) -> np.ndarray:
        return ~np.asarray(render_line(text, size, bold), dtype=bool)

    def old_way(text: str) -> np.ndarray:  # grey anti-aliased text cut at 50 % at the old 58 mm size
        f = font(13, bold)
        top, h = line_box(f)
        img = Image.new("L", (len(text) * 13 + 4, h), 255)
        ImageDraw.Draw(img).text((1, -top), text, font=f, fill=0)
        return np.asarray(img) < 128

    lost = [m for w in WORDS for m in lost_marks(ours, w, size, bold)]
    assert lost == [], f"tone marks lost at 58 mm: {lost}"
    if not bold:  # the old ticket's small lines were regular weight
        old_lost = [m for w in WORDS for m in lost_marks(old_way, w, 13, bold)]
        assert old_lost, "the check must catch the old 50 % threshold rendering"
