"""Logging set-up for every role: one line per record, journald-friendly."""
from __future__ import annotations

import logging
import os
import sys


def setup_logging(level: str | None = None) -> None:
    lvl = (level or os.environ.get("MOTCUA_LOG", "INFO")).upper()
    if not isinstance(logging.getLevelName(lvl), int):
        raise SystemExit(f"Mức ghi log không hợp lệ / unknown log level {lvl!r} (--log-level or $MOTCUA_LOG): "
                         "dùng / use DEBUG, INFO, WARNING or ERROR")
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("INVOCATION_ID"):  # not under systemd: add a timestamp
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=lvl, format=fmt, stream=sys.stderr, force=True)
