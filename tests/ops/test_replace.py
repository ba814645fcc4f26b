"""A replaced device's history continues, for every role that publishes events with seq: the old
device's events reach a real collector through a real broker, ``replace-device`` reads the
collector's last seq, setup.sh (or ``python -m ops seed-outbox`` for the portal, which lives on the
server) seeds the new device's outbox, and the new device's events carry the next numbers: no
duplicate seq, no row in seq_gaps (not even after its telemetry), one device in the collector."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from mqtt.client import BrokerConfig, DeviceClient
from mqtt.outbox import Outbox
from mqtt.schemas import FaultData
from ops.replace import outbox_of
from tests.collector.wire import CollectorProcess
from tests.ops.support import ROOT, SITE, run_ops
from tests.ops.test_setup import setup
from tests.support.wait import wait_for

# role -> (device id, provision-device options, setup.sh options)
DEVICES = {
    "rating-terminal": ("rt-05", ["--desk", "5"], ["--desk", "5"]),
    "kiosk": ("kiosk-1", [], []),
    "camera": ("cam-01", ["--desks", "5"], []),
}


@pytest.fixture(scope="module")
def site(module_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The site server under a root prefix (its registry, provisioning bundles) and a collector."""
    tmp = tmp_path_factory.mktemp("replace")
    srv = tmp / "srv"
    setup("--role", "server", "--site", SITE, "--root", str(srv))
    db = tmp / "collector.db"
    (tmp / "collector.toml").write_text(f'db = "{db}"\n')
    collector = CollectorProcess(module_broker.url, db).start()
    yield {"srv": srv, "db": db, "collector_toml": tmp / "collector.toml", "tmp": tmp, "url": module_broker.url}
    collector.stop()


def publish_faults(url: str, outbox_path: Path, device: str, role: str, n: int, telemetry: bool = False) -> list[int]:
    """A device of that role sends n events through its outbox and client; their seq values."""
    ob = Outbox(outbox_path, SITE, device)
    client = DeviceClient(SITE, device, role, BrokerConfig(url=url), outbox=ob, telemetry_interval_s=0)
    client.start()
    try:
        assert client.wait_connected(10)
        seqs = [ob.enqueue("fault", FaultData(code=f"test_{i}", active=True, message_vi="Lỗi thử",
                                              message_en="test fault")).seq for i in range(n)]
        assert wait_for(lambda: ob.depth() == 0, 20), "the collector did not confirm every event"
        if telemetry:
            assert client.send_telemetry()
    finally:
        client.stop()
        ob.close()
    return seqs


def stored(db: Path, device: str, sql: str) -> Any:
    with sqlite3.connect(db, timeout=5) as c:
        return c.execute(sql, (SITE, device)).fetchone()[0]


def replace(site: dict[str, Any], device: str, role: str, provision: list[str]) -> Path:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "ops.replace", "replace-device", "--site", SITE, "--device", device,
                           "--role", role, *provision, "--root", str(site["srv"]),
                           "--collector-config", str(site["collector_toml"]), "--broker", site["url"]],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site["srv"] / "etc/motcua/provision" / device


def check_history_continues(site: dict[str, Any], device: str, old: list[int], new: list[int]) -> None:
    db = site["db"]
    assert wait_for(lambda: stored(db, device, "SELECT telemetry_at IS NOT NULL FROM devices WHERE site=? AND device=?"),
                    10), "the new device's telemetry (seq_first/seq_last) was stored"
    assert new[0] == old[-1] + 1 and new == list(range(new[0], new[0] + len(new)))
    assert stored(db, device, "SELECT count(*) FROM events WHERE site=? AND device=?") == len(old) + len(new)
    assert stored(db, device, "SELECT count(*) - count(DISTINCT seq) FROM events WHERE site=? AND device=?") == 0
    assert stored(db, device, "SELECT count(*) FROM seq_gaps WHERE site=? AND device=?") == 0
    assert stored(db, device, "SELECT last_seq FROM devices WHERE site=? AND device=?") == new[-1]
    assert stored(db, device, "SELECT count(*) FROM devices WHERE site=? AND device=?") == 1


@pytest.mark.parametrize("role", DEVICES)
def test_a_replaced_device_continues_its_history(role: str, site: dict[str, Any]) -> None:
    device, provision, extra = DEVICES[role]
    run_ops("provision-device", "--site", SITE, "--device", device, "--role", role, *provision,
            "--root", str(site["srv"]), "--broker", site["url"])
    old = publish_faults(site["url"], site["tmp"] / f"old-{device}.db", device, role, 3)
    assert old == [1, 2, 3]
    bundle = replace(site, device, role, provision)
    assert "next_seq = 4" in (bundle / "continue.toml").read_text()
    dev = site["tmp"] / f"new-{device}"
    args = ("--role", role, "--site", SITE, "--device", device, *extra, "--bundle", str(bundle), "--root", str(dev))
    out = setup(*args).stdout
    assert "starts at seq 4 (continues the replaced device)" in out, out
    config = dev / "etc/motcua" / f"{role}.toml"
    outbox = dev / outbox_of(role, config).relative_to("/")
    assert outbox.is_file(), f"setup.sh seeded {outbox}"
    new = publish_faults(site["url"], outbox, device, role, 2, telemetry=True)
    check_history_continues(site, device, old, new)
    assert "exists (its own seq goes on" in setup(*args).stdout, "an existing outbox is never re-seeded"


def test_the_portal_on_a_rebuilt_server_continues_too(site: dict[str, Any], tmp_path: Path) -> None:
    """The portal publishes under its own login; on a rebuilt server its new outbox is seeded the same way."""
    # setup.sh --role server provisioned the portal (portal-init): its login and registry entry
    assert "portal" in (site["srv"] / "etc/motcua/devices.toml").read_text()
    old = publish_faults(site["url"], tmp_path / "old-portal.db", "portal", "portal", 2)
    bundle = replace(site, "portal", "portal", [])
    config = tmp_path / "portal.toml"
    config.write_text((ROOT / "config/portal.toml").read_text(encoding="utf-8")
                      .replace('state_dir = "/var/lib/motcua/portal"', f'state_dir = "{tmp_path}/portal"'),
                      encoding="utf-8")
    out = run_ops("seed-outbox", "--role", "portal", "--config", str(config), "--site", SITE, "--device", "portal",
                  "--continue-file", str(bundle / "continue.toml")).stdout
    assert f"changed: {tmp_path}/portal/outbox.db starts at seq 3" in out
    new = publish_faults(site["url"], tmp_path / "portal/outbox.db", "portal", "portal", 1, telemetry=True)
    check_history_continues(site, "portal", old, new)


def test_roles_without_an_outbox_are_refused(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("next_seq = 9\n")
    proc = run_ops("seed-outbox", "--role", "display", "--config", str(ROOT / "config/display.toml"), "--site", SITE,
                   "--device", "display-1", "--continue-file", str(tmp_path / "c.toml"), check=False)
    assert proc.returncode == 2 and "no events with seq" in proc.stderr
