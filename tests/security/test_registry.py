"""The device registry: written by provision-device, trusted by ticketing and the collector; a bad
file refuses to start naming file and line; a changed file is re-read."""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from collector.authz import Authz
from collector.cli import main as collector_main
from collector.store import Incoming
from common.errors import ConfigError
from common.registry import Registry
from tests.ops.support import run_ops
from tests.security.conftest import SITE, event_bytes
from tests.ticketing.helpers import site_toml, write_configs
from ticketing.cli import main as ticketing_main

GOOD = f'site = "{SITE}"\n\n[devices.rt-01]\nrole = "rating-terminal"\ndesk = 1\n'
BAD = f'site = "{SITE}"\n\n[devices.rt-01]\nrole = "rating-terminal"\ndesk = 1\n\n[devices.cam-01]\nrole = "camera"\n'


def test_a_bad_registry_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "devices.toml"
    p.write_text(BAD)
    with pytest.raises(ConfigError) as e:
        Registry.load(p)
    assert f"{p}:7" in str(e.value) and "desks it watches" in str(e.value)
    p.write_text(GOOD.replace("desk = 1", "desk = 1\nseat = 2"))
    with pytest.raises(ConfigError, match=r"devices.toml:6.*seat"):
        Registry.load(p)
    with pytest.raises(ConfigError, match="not found"):
        Registry.load(tmp_path / "missing.toml")


def test_ticketing_and_collector_refuse_to_start_on_a_bad_registry(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "devices.toml").write_text(BAD)
    cfg = write_configs(tmp_path, "mqtt://127.0.0.1:1")
    cfg.write_text('devices = "devices.toml"\n' + cfg.read_text())
    assert ticketing_main(["--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'devices.toml'}:7" in err
    col = tmp_path / "collector.toml"
    col.write_text(f'devices = "devices.toml"\nsite = "{SITE}"\ndb = "{tmp_path / "c.db"}"\n'
                   f'broker = "mqtt://127.0.0.1:1"\nhttp = "127.0.0.1:1"\n')
    assert collector_main(["--config", str(col)]) == 2
    assert f"{tmp_path / 'devices.toml'}:7" in capsys.readouterr().err


def test_a_changed_registry_is_read_again_and_a_broken_change_is_not_taken(tmp_path: Path) -> None:
    p = tmp_path / "devices.toml"
    p.write_text(GOOD)
    reg = Registry.load(p)
    assert reg.get("rt-09") is None
    p.write_text(GOOD + '\n[devices.rt-09]\nrole = "rating-terminal"\ndesk = 9\n')
    os.utime(p, (time.time() + 5, time.time() + 5))
    reg.reload()
    assert reg.get("rt-09") is not None and reg.get("rt-09").desk == 9  # type: ignore[union-attr]
    p.write_text(BAD)
    os.utime(p, (time.time() + 10, time.time() + 10))
    reg.reload()
    assert reg.get("rt-09") is not None, "a broken registry must not replace the last good one"


def test_a_device_missing_from_the_registry_records_nothing(tmp_path: Path) -> None:
    p = tmp_path / "devices.toml"
    p.write_text(GOOD)
    authz = Authz(Registry.load(p))
    now = datetime.now(timezone.utc)
    topic, payload = event_bytes("rt-77", "rating", {"desk": 1, "score": 5, "scale": 5})
    assert "rt-77 is not in the device registry" in (authz.check(Incoming(topic, payload, False, now)) or "")
    topic, payload = event_bytes("rt-01", "rating", {"desk": 1, "score": 5, "scale": 5})
    assert authz.check(Incoming(topic, payload, False, now)) is None
    other = topic.replace(SITE, "other-site").replace(f'"site": "{SITE}"', '"site": "other-site"')
    assert authz.check(Incoming(other, payload, False, now)) is None  # another site's registry, not this one


def test_provision_device_writes_role_and_desks(tmp_path: Path) -> None:
    root = tmp_path
    (root / "etc/motcua").mkdir(parents=True)
    (root / "etc/motcua/site.toml").write_text(site_toml().replace('site = "test-hcc"', f'site = "{SITE}"'))
    run_ops("server-init", "--site", SITE, "--root", str(root))
    ok = lambda *a: run_ops("provision-device", "--site", SITE, "--root", str(root), *a)  # noqa: E731
    bad = lambda *a: run_ops("provision-device", "--site", SITE, "--root", str(root), *a, check=False)  # noqa: E731
    assert "add --desk" in bad("--device", "rt-05", "--role", "rating-terminal").stderr
    assert "--desks" in bad("--device", "cam-01", "--role", "camera").stderr
    assert "not in" in bad("--device", "rt-09", "--role", "rating-terminal", "--desk", "9").stderr
    ok("--device", "rt-04", "--role", "rating-terminal", "--desk", "4")
    ok("--device", "cam-01", "--role", "camera", "--desks", "3,4")
    ok("--device", "rt-04", "--role", "rating-terminal", "--replace")  # a stand-in keeps desk 4
    reg = Registry.load(root / "etc/motcua/devices.toml")
    assert reg.site == SITE
    assert (reg.get("rt-04").role, reg.get("rt-04").desk) == ("rating-terminal", 4)  # type: ignore[union-attr]
    assert reg.get("cam-01").desks == [3, 4]  # type: ignore[union-attr]
    assert reg.role("ticketing") == "ticketing" and reg.role("collector") == "collector"
    for user in ("ticketing", "collector"):
        assert 'devices = "devices.toml"' in (root / f"etc/motcua/{user}.toml").read_text()
    again = run_ops("server-init", "--site", SITE, "--root", str(root)).stdout
    assert "changed" not in again, again
