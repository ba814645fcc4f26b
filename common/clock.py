"""The clock, injected everywhere (a Pi has no real-time clock: know whether NTP synced)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
_STA_UNSYNC = 0x0040
_TIME_ERROR = 5


class Clock(Protocol):
    tz: ZoneInfo

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def is_synced(self) -> bool: ...


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>; only the fields up to `status` are read, the rest is room.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 256),
    ]


def kernel_clock_synced() -> bool:
    """True when the kernel says the clock is disciplined by NTP (adjtimex, as timedatectl does)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return False
    return state != _TIME_ERROR and not (tx.status & _STA_UNSYNC)


class SystemClock:
    """Wall time in the site's time zone, with offset; monotonic time for durations."""

    def __init__(self, tz: str = DEFAULT_TZ, synced_check_every_s: float = 60.0):
        self.tz = ZoneInfo(tz)
        self._check_every = synced_check_every_s
        self._synced = False
        self._checked_at = -1e18

        # The simulated centre runs the day faster: MOTCUA_CLOCK="2026-11-23T07:00:00+07:00,60"
        # makes wall time start there and run 60 times faster (durations stay real).
        self._scaled: tuple[datetime, float, float] | None = None
        spec = os.environ.get("MOTCUA_CLOCK")
        if spec:
            start, _, speed = spec.partition(",")
            self._scaled = (datetime.fromisoformat(start), float(speed or 1), time.time())

    def now(self) -> datetime:
        if self._scaled is not None:
            start, speed, t0 = self._scaled
            return (start + timedelta(seconds=(time.time() - t0) * speed)).astimezone(self.tz)
        return datetime.now(self.tz)

    def monotonic(self) -> float:
        return time.monotonic()

    def is_synced(self) -> bool:
        if self._scaled is not None:
            return True
        m = time.monotonic()
        if m - self._checked_at >= self._check_every:
            self._synced = kernel_clock_synced()
            self._checked_at = m
        return self._synced


class FakeClock:
    """A clock a test moves by hand. Starts at `start` (aware) and advances only on `advance`."""

    def __init__(self, start: datetime, synced: bool = True, tz: str = DEFAULT_TZ):
        if start.tzinfo is None:
            raise ValueError("FakeClock start must carry a time zone offset")
        self.tz = ZoneInfo(tz)
        self._now = start.astimezone(self.tz)
        self._mono = 1000.0
        self.synced = synced

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def is_synced(self) -> bool:
        return self.synced

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(self.tz)


def iso(dt: datetime) -> str:
    """ISO 8601 with milliseconds and offset: 2026-11-23T09:15:02.123+07:00."""
    if dt.tzinfo is None:
        raise ValueError("refusing to format a naive datetime: times are stored with offsets")
    return dt.isoformat(timespec="milliseconds")


def local_day(dt: datetime, tz: ZoneInfo | str = DEFAULT_TZ) -> date:
    """The local calendar day of an instant (ticket numbers restart on it)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return dt.astimezone(zone).date()
