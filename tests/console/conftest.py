"""A real broker, ticketing in this process (with a device registry naming the console), a
collector subprocess with ``console_device`` and real Chromium."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from collector import auth
from collector.db import open_db
from common.registry import Registry
from mqtt.client import BrokerConfig
from mqtt.outbox import Outbox
from tests.collector.wire import CollectorProcess
from tests.ticketing.helpers import SITE, write_configs
from ticketing.config import load_ticketing
from ticketing.queue import Queue
from ticketing.server import ROLE, Server, persistent_client

RULES = ("recall_cooldown_s = 3\nrecall_max = 2\nno_show_after_calls = 2\n"
         "appointment_capacity = 1\nappointment_slot_min = 5\nappointment_early_min = 60\n"
         "appointment_late_min = 10\nappointment_services = [\"HT\"]\n")
# open all day, every day: the console tests run on the real clock, whenever they run
ALL_DAY = "".join(f'{d} = [["00:00", "23:59"]]\n' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
DEVICES = f"""site = "{SITE}"
[devices.ticketing]
role = "ticketing"
[devices.collector]
role = "collector"
[devices.console-1]
role = "console"
desks = [1, 2, 3]
[devices.kiosk-1]
role = "kiosk"
[devices.rt-04]
role = "rating-terminal"
desk = 4
"""
OFFICER, PASSWORD = "nv-0101", "mat-khau-can-bo-01"


class Ticketing:
    def __init__(self, tmp: Path, url: str):
        cfg_path = write_configs(tmp, url)
        site_toml = tmp / "site.toml"
        text = site_toml.read_text(encoding="utf-8")
        text = text.replace("transfer_keeps_place = true\n", "transfer_keeps_place = true\n" + RULES)
        site_toml.write_text(text.replace('mon = [["07:00", "11:30"], ["13:30", "17:00"]]\n', ALL_DAY), encoding="utf-8")
        (tmp / "devices.toml").write_text(DEVICES, encoding="utf-8")
        cfg, site = load_ticketing(cfg_path)
        self.queue = Queue(cfg.db, site, device=cfg.device)
        self.outbox = Outbox(cfg.outbox_path(), site.site, cfg.device)
        self.client = persistent_client(site.site, cfg.device, ROLE, BrokerConfig(url=url), outbox=self.outbox,
                                       telemetry_interval_s=0)
        self.server = Server(self.queue, self.client, self.outbox, registry=Registry.load(tmp / "devices.toml"))
        self.server.start()
        assert self.client.wait_connected(10)
        time.sleep(0.2)

    def stop(self) -> None:
        self.server.stop()
        self.outbox.close()
        self.queue.close()


@pytest.fixture
def ticketing(tmp_path: Path, broker) -> Iterator[Ticketing]:  # noqa: ANN001
    t = Ticketing(tmp_path, broker.url)
    yield t
    t.stop()


@pytest.fixture
def console_collector(tmp_path: Path, broker, ticketing) -> Iterator[CollectorProcess]:  # noqa: ANN001
    db = tmp_path / "collector.db"
    conn = open_db(str(db))
    auth.add_user(conn, OFFICER, PASSWORD, role="officer")
    conn.close()
    cfg = tmp_path / "collector.toml"
    cfg.write_text(f'console_device = "console-1"\ndevices = "{tmp_path / "devices.toml"}"\n', encoding="utf-8")
    c = CollectorProcess(broker.url, db, site=SITE, extra=["--config", str(cfg)]).start()
    yield c
    c.stop()
