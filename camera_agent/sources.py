"""Frame sources: any OpenCV source, picamera2 when installed, and a supervisor that reopens
a lost camera with backoff and reports the fault and its clearing."""
from __future__ import annotations

import logging
from typing import Callable, Protocol

import cv2
import numpy as np

from common.clock import Clock

from .errors import SourceUnavailable

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    """Gives BGR frames; ``read`` returns None when no frame came (lost camera, end of file)."""

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class OpenCVSource:
    """A device index ("0"), a video file, an image-sequence pattern (img_%04d.png) or an
    RTSP/HTTP URL, through cv2.VideoCapture."""

    def __init__(self, uri: str, width: int | None = None, height: int | None = None):
        self.uri = uri
        target: int | str = int(uri) if uri.isdigit() else uri
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceUnavailable(f"cannot open video source {uri!r}: check the device index "
                                    f"(ls /dev/video*), the file path or the URL")
        if isinstance(target, int):
            if width:
                self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            if height:
                self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    @property
    def fps(self) -> float:
        return float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)

    def read(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        return frame if ok and frame is not None and frame.size else None

    def close(self) -> None:
        self._cap.release()


class Picamera2Source:
    """The Raspberry Pi camera through picamera2 (only when it is installed)."""

    def __init__(self, width: int | None = 640, height: int | None = 480):
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ImportError:
            raise SourceUnavailable("source 'picamera2' needs the picamera2 package "
                                    "(sudo apt install python3-picamera2)") from None
        try:
            self._cam = Picamera2()
            cfg = self._cam.create_video_configuration(
                main={"size": (width or 640, height or 480), "format": "RGB888"})
            self._cam.configure(cfg)
            self._cam.start()
        except Exception as exc:  # noqa: BLE001 - libcamera raises many kinds
            raise SourceUnavailable(f"cannot start the Pi camera: {exc}") from exc

    def read(self) -> np.ndarray | None:
        try:
            return self._cam.capture_array()  # RGB888 in picamera2 is BGR in memory
        except Exception as exc:  # noqa: BLE001
            log.warning("picamera2 capture failed: %s", exc)
            return None

    def close(self) -> None:
        try:
            self._cam.stop()
            self._cam.close()
        except Exception:  # noqa: BLE001
            log.debug("picamera2 close failed", exc_info=True)


def open_source(uri: str, width: int | None = None, height: int | None = None) -> FrameSource:
    """Open a source by its config string; raise SourceUnavailable saying what to check."""
    if uri == "picamera2":
        return Picamera2Source(width, height)
    return OpenCVSource(uri, width, height)


FaultCallback = Callable[[bool, str], None]  # (active, detail)


class CameraSupervisor:
    """Keeps a camera open: when frames stop, closes it, reopens with exponential backoff,
    raises a fault once, and clears it when frames come back.

    ``opener`` makes a new source (raising SourceUnavailable when it cannot); ``clock`` is
    injected so tests move time by hand.
    """

    def __init__(self, opener: Callable[[], FrameSource], clock: Clock, on_fault: FaultCallback, *,
                 reopen_min_s: float = 1.0, reopen_max_s: float = 30.0, lost_after_s: float = 5.0):
        self.opener = opener
        self.clock = clock
        self.on_fault = on_fault
        self.reopen_min_s = reopen_min_s
        self.reopen_max_s = reopen_max_s
        self.lost_after_s = lost_after_s
        self.source: FrameSource | None = None
        self.faulted = False
        self.reopens = 0
        self._delay = reopen_min_s
        self._next_try = clock.monotonic()
        self._last_frame = clock.monotonic()

    def read(self) -> np.ndarray | None:
        """One frame, or None (nothing now: lost, reopening, or waiting for the next try)."""
        now = self.clock.monotonic()
        if self.source is None and now >= self._next_try:
            try:
                self.source = self.opener()
                self.reopens += 1
                log.info("camera opened")
            except SourceUnavailable as exc:
                self._retry_later(now, str(exc))
        if self.source is not None:
            frame = self.source.read()
            if frame is not None:
                self._last_frame = now
                self._delay = self.reopen_min_s
                if self.faulted:
                    self.faulted = False
                    log.info("camera frames are back")
                    self.on_fault(False, "frames are back")
                return frame
            try:
                self.source.close()
            except Exception:  # noqa: BLE001
                log.debug("closing the lost source failed", exc_info=True)
            self.source = None
            self._retry_later(now, "the camera gave no frame")
        if not self.faulted and now - self._last_frame >= self.lost_after_s:
            self.faulted = True
            detail = f"no frame from the camera for {now - self._last_frame:.1f} s"
            log.warning("camera lost: %s", detail)
            self.on_fault(True, detail)
        return None

    def _retry_later(self, now: float, detail: str) -> None:
        self._next_try = now + self._delay
        log.info("camera unavailable (%s); next try in %.1f s", detail, self._delay)
        self._delay = min(self._delay * 2, self.reopen_max_s)

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None
