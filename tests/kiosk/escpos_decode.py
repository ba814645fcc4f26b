"""Reads ESC/POS bytes back: the GS v 0 raster images (rebuilt with numpy), the cut, and DLE EOT
queries; a QR decoder over the rebuilt bitmap (OpenCV)."""
from __future__ import annotations

import cv2
import numpy as np

GS_V0 = b"\x1dv0"


def raster_blocks(data: bytes) -> list[np.ndarray]:
    """Every GS v 0 image in the stream as a bool array (True = black dot), in order."""
    out = []
    i = 0
    while True:
        i = data.find(GS_V0, i)
        if i < 0:
            return out
        m, xl, xh, yl, yh = data[i + 3:i + 8]
        assert m in (0, 1, 2, 3, 48, 49, 50, 51), f"bad GS v 0 mode {m}"
        width_bytes, height = xl + 256 * xh, yl + 256 * yh
        start = i + 8
        raw = np.frombuffer(data[start:start + width_bytes * height], dtype=np.uint8)
        assert raw.size == width_bytes * height, "truncated raster data"
        bits = np.unpackbits(raw.reshape(height, width_bytes), axis=1)
        out.append(bits.astype(bool))
        i = start + width_bytes * height


def ticket_bitmap(data: bytes) -> np.ndarray:
    """The whole ticket: the raster fragments stacked top to bottom."""
    blocks = raster_blocks(data)
    assert blocks, "no GS v 0 raster image in the printer bytes"
    return np.vstack(blocks)


def decode_qr(bitmap: np.ndarray) -> str:
    """Decode the QR code in a bitmap (True = black); '' if none is found."""
    gray = np.where(bitmap, 0, 255).astype(np.uint8)
    det = cv2.QRCodeDetector()
    for scale in (1, 2, 3, 4):
        img = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) if scale > 1 else gray
        img = cv2.copyMakeBorder(img, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
        text, _pts, _ = det.detectAndDecode(img)
        if text:
            return text
    return ""
