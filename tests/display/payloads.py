"""Hand-made retained state payloads, built with the real schema models."""
from __future__ import annotations

from datetime import datetime, timedelta

from mqtt.schemas import Call, CallsState, DeskInfo, ServiceInfo, ServiceState, SiteState

SERVICES = [("HT", "Hộ tịch", "Civil status", 12, 480), ("DD", "Đất đai", "Land", 3, 900),
            ("KD", "Đăng ký kinh doanh", "Business registration", 0, None)]


MANY = [("Đăng ký khai sinh", "Birth registration"), ("Chứng thực bản sao từ bản chính", "Certified copies"),
        ("Cấp giấy chứng nhận quyền sử dụng đất", "Land use certificates"), ("Đăng ký kinh doanh", "Business registration"),
        ("Cấp đổi giấy phép lái xe", "Driving licence renewal"), ("Trợ cấp thất nghiệp", "Unemployment benefit")]


def services(n: int | None) -> list[tuple[str, str, str, int, float | None]]:
    """The three usual services, or ``n`` with long real-world names."""
    if not n:
        return SERVICES
    return [(f"S{i:02d}", f"{MANY[i % len(MANY)][0]} {i + 1}", MANY[i % len(MANY)][1], i % 9, 300.0 * (i % 9) or None)
            for i in range(n)]


def site_state(site: str, n: int | None = None) -> bytes:
    return SiteState(
        site=site, name_vi="Trung tâm Phục vụ Hành chính công tỉnh Cà Mau",
        name_en="Ca Mau Public Administrative Service Centre", timezone="Asia/Ho_Chi_Minh",
        services=[ServiceInfo(code=c, name_vi=vi, name_en=en, range_start=1, range_end=9999, capacity=300,
                              target_wait_min=20) for c, vi, en, _, _ in services(n)],
        desks=[DeskInfo(number=n, services=["HT", "DD", "KD"]) for n in range(1, 9)],
        hours={"mon": [("07:30", "11:30"), ("13:30", "17:00")]}, priority_classes=["elderly"],
    ).dumps()


def service_states(day: str, n: int | None = None) -> dict[str, bytes]:
    return {code: ServiceState(service=code, day=day, waiting=w, issued=w + 5, capacity=300,
                               est_wait_s=est).dumps()
            for code, _, _, w, est in services(n)}


def calls_state(newest: datetime, calls: list[tuple[str, int, str]], step_s: float = 60,
                recall_first: bool = False) -> bytes:
    """calls newest first; the first is at `newest`, each next one `step_s` earlier."""
    return CallsState(calls=[
        Call(ticket=t, desk=d, service=s, at=newest - timedelta(seconds=i * step_s),
             recall=recall_first and i == 0)
        for i, (t, d, s) in enumerate(calls)], ts=newest).dumps()


CALLS = [("1023", 5, "HT"), ("1022", 3, "DD"), ("1021", 1, "HT"), ("1020", 2, "KD"), ("1019", 5, "HT")]
