"""Shared pieces of the kiosk tests: a site, a fake lease source, a kiosk built on temp files."""
from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.errors import LeaseRefused
from mqtt.errors import NotConnected
from mqtt.schemas import Lease, Response, ServiceInfo, ServiceState, SiteState

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY_0915 = datetime(2026, 11, 23, 9, 15, tzinfo=TZ)
DAY = "2026-11-23"
HOURS = {d: [("07:30", "11:30"), ("13:30", "17:00")] for d in ("mon", "tue", "wed", "thu", "fri")}
HOURS["sat"] = [("07:30", "11:30")]

SERVICES = [
    ("HT", "Hộ tịch", "Civil status", "", 1001, 1999),
    ("DD", "Đất đai", "Land", "", 2001, 2999),
    ("KD", "Đăng ký kinh doanh", "Business registration", "", 3001, 3999),
    ("TP", "Tư pháp – Chứng thực", "Justice and certification", "", 4001, 4999),
]


def site_state(closed_days: list[str] | None = None) -> SiteState:
    return SiteState(
        site="camau-hcc", name_vi="Trung tâm Phục vụ Hành chính công tỉnh Cà Mau",
        name_en="Ca Mau Public Administrative Service Centre", timezone="Asia/Ho_Chi_Minh",
        services=[ServiceInfo(code=c, name_vi=vi, name_en=en, prefix=p, range_start=a, range_end=b, capacity=b - a + 1,
                              target_wait_min=30) for c, vi, en, p, a, b in SERVICES],
        desks=[], hours=HOURS, closed_days=closed_days or [], priority_classes=["elderly", "disabled", "pregnant",
                                                                              "appointment"])


def service_state(code: str, waiting: int, est_wait_s: float | None, finished: bool = False,
                  day: str = DAY) -> ServiceState:
    return ServiceState(service=code, day=day, waiting=waiting, issued=waiting, capacity=999,
                        finished_for_today=finished, est_wait_s=est_wait_s)


class FakeLeaseSource:
    """Ticketing's lease answers, in memory: consecutive blocks per service, idempotent by id."""

    def __init__(self, online: bool = True):
        self.online = online
        self.refuse: set[str] = set()
        self.calls: list[tuple[str, int, str]] = []
        self._next = {c: a for c, _, _, _, a, _ in SERVICES}
        self._end = {c: b for c, _, _, _, _, b in SERVICES}
        self._by_id: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self.day = DAY

    def lease(self, service: str, count: int, request_id: str) -> Lease:
        with self._lock:
            self.calls.append((service, count, request_id))
            if not self.online:
                raise NotConnected("fake ticketing offline")
            if request_id in self._by_id:
                return self._by_id[request_id]
            if service in self.refuse or self._next[service] > self._end[service]:
                raise LeaseRefused(service, "range_exhausted", "no numbers left today")
            start = self._next[service]
            end = min(start + count - 1, self._end[service])
            self._next[service] = end + 1
            lease = Lease(service=service, day=self.day, start=start, end=end, prefix="")
            self._by_id[request_id] = lease
            return lease

    def check_in(self, code: str, service: str | None, request_id: str) -> Response:
        """Ticketing's check-in answer for any code (real check-ins: tests/appointments/): one
        number of the service the kiosk was on, as ticketing's booking would name."""
        got = self.lease(service or "", 1, request_id)
        return Response(request_id=request_id, ok=True, lease=got)


def kiosk_config(tmp: Path, **kiosk: Any) -> KioskConfig:
    section = {"site": "camau-hcc", "device": "kiosk-1", "state_dir": str(tmp / "state"), "lease_size": 20,
               "lease_low": 5, "idle_timeout_s": 10, "fullscreen": False}
    section.update(kiosk)
    return KioskConfig.model_validate({"kiosk": section, "printer": {"kind": "dummy", "width_mm": 80}})


def fake_clock() -> FakeClock:
    return FakeClock(MONDAY_0915)


FIELDS = [("Tư pháp – Hộ tịch", "Justice – Civil status"), ("Đất đai – Xây dựng", "Land – Construction"),
          ("Kinh doanh – Đầu tư", "Business – Investment"), ("Lao động – Xã hội", "Labour – Social affairs"),
          ("Giao thông – Vận tải", "Transport")]
NAMES = ["Đăng ký khai sinh", "Cấp bản sao trích lục", "Chứng thực bản sao từ bản chính", "Đăng ký kết hôn",
         "Cấp giấy chứng nhận quyền sử dụng đất", "Cấp phép xây dựng nhà ở riêng lẻ", "Đăng ký thành lập doanh nghiệp",
         "Thay đổi nội dung đăng ký kinh doanh", "Trợ cấp thất nghiệp", "Cấp đổi giấy phép lái xe"]


def many_services(n: int) -> SiteState:
    """A centre with ``n`` services (long real-world names); grouped by field from 13 services on."""
    site = site_state()
    services = []
    for i in range(n):
        fvi, fen = FIELDS[i % len(FIELDS)]
        services.append(ServiceInfo(code=f"S{i:02d}", name_vi=f"{NAMES[i % len(NAMES)]} ({i + 1})",
                                    name_en=f"Service {i + 1}", range_start=1000 * (i + 1) + 1,
                                    range_end=1000 * (i + 1) + 999, capacity=999, target_wait_min=30,
                                    field_vi=fvi if n > 12 else None, field_en=fen if n > 12 else None))
    return site.model_copy(update={"services": services})
