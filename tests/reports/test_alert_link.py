"""A site's link to the province down: a real site Mosquitto bridged (TLS, the generated config) to a
real central Mosquitto through a TCP link the test cuts; a real collector follows the bridge's retained
``1``/``0`` on motcua/link/{site} (published on the site broker too) and raises, then clears, the alert."""
from __future__ import annotations

import json
import sqlite3
import time
import tomllib
from pathlib import Path
from typing import Any

from collector.db import connect
from tests.collector.wire import CollectorProcess
from tests.province.conftest import SITE, Province, province  # noqa: F401 - the module's fixture

KEY = ("province_link", "link:province")


def _link_alerts(db: Path) -> list[dict[str, Any]]:
    try:
        c = connect(db, readonly=True)
    except sqlite3.OperationalError:
        return []
    try:
        return [dict(r) for r in c.execute("SELECT raised_at, cleared_at, detail, message_en FROM alerts "
                                           "WHERE kind=? AND subject=? ORDER BY id", KEY)]
    except sqlite3.OperationalError:
        return []
    finally:
        c.close()


def _until(pred: Any, what: str, timeout: float = 60.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _collector(p: Province, tmp: Path, name: str, link: bool) -> CollectorProcess:
    mqtt = tomllib.loads((p.site_root / "etc/motcua/collector.toml").read_text())["mqtt"]
    cfg = tmp / f"{name}.toml"
    cfg.write_text(f"""
province_link = {str(link).lower()}
alert_interval_s = 0.5
[mqtt]
username = "collector"
password = {json.dumps(mqtt["password"])}
[alerts]
province_link_down_min = 0.05
""", encoding="utf-8")
    return CollectorProcess(f"mqtt://127.0.0.1:{p.site.port}", tmp / f"{name}.db", site=SITE,
                            extra=["--config", str(cfg)]).start()


def test_province_link_down_raises_and_clears(province: Province, tmp_path: Path) -> None:  # noqa: F811
    col = _collector(province, tmp_path, "linked", True)
    plain = _collector(province, tmp_path, "standalone", False)  # no province link configured: never alerts
    cut = False
    try:
        time.sleep(4.0)  # longer than the 3 s threshold: the link is up, nothing raised
        assert _link_alerts(col.db) == []
        province.link.cut()
        cut = True  # the WAN goes down; the site's bridge publishes 0 on the site broker
        got = _until(lambda: _link_alerts(col.db), "province_link raised")
        assert len(got) == 1 and got[0]["cleared_at"] is None and got[0]["raised_at"].endswith("+07:00")
        assert json.loads(got[0]["detail"])["since"], got
        assert got[0]["message_en"].startswith("Link to the province down for")
        province.link.restore()
        cut = False
        assert province.bridge_up(60), province.site.log_path.read_text()[-2000:]
        _until(lambda: (a := _link_alerts(col.db)) and a[0]["cleared_at"], "province_link cleared")
        time.sleep(2.0)
        assert len(_link_alerts(col.db)) == 1, "raised once, cleared once"
        assert _link_alerts(plain.db) == []
    finally:
        if cut:
            province.link.restore()
        col.stop()
        plain.stop()
    for c in (col, plain):
        assert "Traceback" not in c.log.read_text(), c.log.read_text()[-3000:]
