"""Shared pieces of the ticketing tests: a small site, kiosks and desks on a real broker."""
from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from common.clock import Clock, SystemClock
from mqtt.client import BrokerConfig, DeviceClient
from mqtt.errors import NotConnected, RequestTimeout
from mqtt.outbox import Outbox
from mqtt.schemas import Lease, Request, Response, TicketData, uuid7
from ticketing.config import SiteConfig

SITE = "test-hcc"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")

SITE_TOML = """\
site = "test-hcc"
name_vi = "Trung tâm thử"
name_en = "Test centre"
priority_classes = ["elderly", "disabled", "pregnant", "appointment"]
transfer_keeps_place = true

[hours]
mon = [["07:00", "11:30"], ["13:30", "17:00"]]

[[services]]
code = "HT"
name_vi = "Hộ tịch"
name_en = "Civil status"
range_start = 1000
range_end = 3999
capacity = {cap_ht}
target_wait_min = 15

[[services]]
code = "DD"
name_vi = "Đất đai"
name_en = "Land"
range_start = 5000
range_end = 7999
capacity = 3000
target_wait_min = 30

[[services]]
code = "XD"
name_vi = "Xây dựng"
name_en = "Construction"
prefix = "X"
range_start = 1
range_end = 99
capacity = 5
target_wait_min = 20

[[desks]]
number = 1
services = ["HT", "DD"]
[[desks]]
number = 2
services = ["HT", "DD"]
[[desks]]
number = 3
services = ["HT", "DD", "XD"]
[[desks]]
number = 4
services = ["DD", "HT"]
"""


def site_toml(cap_ht: int = 3000) -> str:
    return SITE_TOML.format(cap_ht=cap_ht)


def site_config(cap_ht: int = 3000) -> SiteConfig:
    import tomllib
    return SiteConfig.model_validate(tomllib.loads(site_toml(cap_ht)))


def write_configs(tmp: Path, broker_url: str, cap_ht: int = 3000, lease_block: int = 50) -> Path:
    (tmp / "site.toml").write_text(site_toml(cap_ht), encoding="utf-8")
    cfg = tmp / "ticketing.toml"
    cfg.write_text(f'site_config = "site.toml"\ndb = "{tmp / "ticketing.db"}"\nlease_block = {lease_block}\n'
                   f'probe_timeout_s = 1.0\n\n[mqtt]\nurl = "{broker_url}"\n', encoding="utf-8")
    return cfg


def at(s: str) -> datetime:
    """A local (Asia/Ho_Chi_Minh) time from 'YYYY-MM-DD HH:MM:SS'."""
    return datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=HCM)


def issued(number: int, service: str = "HT", day: str = "2026-11-23", priority: str | None = None,
           when: datetime | None = None, kiosk: str = "kiosk-1", prefix: str = "") -> TicketData:
    return TicketData(action="issued", ticket=f"{prefix}{number}", number=number, day=day, service=service,
                      priority=priority, kiosk=kiosk, issued_at=when)  # type: ignore[arg-type]


class Kiosk:
    """A kiosk as ticketing sees it: leases blocks over request/response, issues from them into
    its durable outbox (also while ticketing is away)."""

    def __init__(self, url: str, device: str, tmp: Path, clock: Clock | None = None, block: int = 50):
        self.device = device
        self.clock = clock or SystemClock()
        self.block = block
        self.outbox = Outbox(tmp / f"{device}-outbox.db", SITE, device, clock=self.clock)
        self.client = DeviceClient(SITE, device, "kiosk", BrokerConfig(url=url), outbox=self.outbox,
                                   clock=self.clock, telemetry_interval_s=0)
        self.leases: dict[str, list[int]] = {}
        self.lease_info: dict[str, Lease] = {}
        self.issued: list[TicketData] = []
        self.client.start()
        assert self.client.wait_connected(10)

    def lease(self, service: str, count: int | None = None, timeout: float = 3.0) -> Response:
        req = Request(id=uuid7(), device=self.device, service=service, count=count or self.block)
        end = time.monotonic() + 30
        while True:  # retry with the SAME id until answered
            try:
                return self.client.request("lease", req, timeout)
            except (RequestTimeout, NotConnected):
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)

    def issue(self, service: str, priority: str | None = None) -> TicketData:
        numbers = self.leases.setdefault(service, [])
        if not numbers:
            resp = self.lease(service)
            if not resp.ok:
                raise RuntimeError(resp.error)
            assert resp.lease is not None
            self.lease_info[service] = resp.lease
            numbers.extend(range(resp.lease.start, resp.lease.end + 1))
        n = numbers.pop(0)
        lease = self.lease_info[service]
        data = TicketData(action="issued", ticket=f"{lease.prefix}{n}", number=n, day=lease.day,
                          service=service, priority=priority, kiosk=self.device,  # type: ignore[arg-type]
                          issued_at=self.clock.now())
        self.outbox.enqueue("ticket", data)
        self.issued.append(data)
        return data

    def close(self) -> None:
        self.client.flush(10)
        self.client.stop()
        self.outbox.close()


class Desk:
    """A desk terminal: call-next / finish ..., retrying a request with the same id on timeout."""

    def __init__(self, url: str, number: int, officer: str | None = None):
        self.number = number
        self.officer = officer or f"nv-{number:04d}"
        self.client = DeviceClient(SITE, f"rt-{number:02d}", "rating-terminal", BrokerConfig(url=url),
                                   desk=number, telemetry_interval_s=0)
        self.client.start()
        assert self.client.wait_connected(10)
        self.retries = 0

    def ask(self, op: str, timeout: float = 2.0, deadline_s: float = 60.0, **fields: object) -> Response:
        req = Request(id=uuid7(), device=self.client.device, desk=self.number, officer=self.officer,
                      **fields)  # type: ignore[arg-type]
        end = time.monotonic() + deadline_s
        while True:
            try:
                return self.client.request(op, req, timeout)
            except (RequestTimeout, NotConnected):
                if time.monotonic() > end:
                    raise
                self.retries += 1
                time.sleep(0.05)

    def close(self) -> None:
        self.client.stop()


def run_desks(desks: list[Desk], total: int, stop_after: float = 60.0,
              between: "threading.Event | None" = None) -> dict[int, list[str]]:
    """Each desk in its own thread: call-next, finish, repeat, until `total` tickets were called
    in all (queue_empty: try again shortly). Returns desk -> labels called."""
    called: dict[int, list[str]] = {d.number: [] for d in desks}
    lock = threading.Lock()
    count = [0]
    errors: list[BaseException] = []
    end = time.monotonic() + stop_after

    def work(d: Desk) -> None:
        try:
            while time.monotonic() < end:
                with lock:
                    if count[0] >= total:
                        return
                if between is not None:
                    between.wait()
                r = d.ask("call-next")
                if not r.ok:
                    assert r.error == "queue_empty", r
                    time.sleep(0.02)
                    continue
                assert r.ticket is not None
                with lock:
                    called[d.number].append(f"{r.ticket.day}/{r.ticket.ticket}")
                    count[0] += 1
                f = d.ask("finish")
                assert f.ok and f.ticket is not None and f.ticket.ticket == r.ticket.ticket, f
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in desks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(stop_after + 30)
    if errors:
        raise errors[0]
    return called
