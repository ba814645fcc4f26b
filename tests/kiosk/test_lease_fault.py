"""The ``lease_exhausted_<service>`` fault: offline with no numbers left, a tap is refused and the
dashboard learns it once per service; a lease obtained again clears it."""
from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.errors import NoNumbers
from kiosk.faults import Faults
from kiosk.issuer import Issuer
from kiosk.runtime import Kiosk, build
from kiosk.store import KioskStore
from mqtt.outbox import Outbox
from mqtt.schemas import FaultData, parse_event
from tests.kiosk.helpers import FakeLeaseSource, fake_clock, kiosk_config, service_state, site_state


def make_kiosk(tmp_path: Path, source: FakeLeaseSource) -> Kiosk:
    cfg = kiosk_config(tmp_path, lease_size=3, lease_low=1)
    k = build(cfg, clock=fake_clock(), source=source, connect=False, print_async=False)
    k.state.set_site(site_state())
    k.state.set_service(service_state("HT", 0, None))
    return k


def fault_events(outbox: Outbox) -> list[FaultData]:
    out = []
    for row in outbox.fetch(0, 1000):
        env = parse_event(row.topic, row.payload)
        if env.type == "fault":
            out.append(FaultData.model_validate(env.data))
    return out


def tap(k: Kiosk, service: str):
    k.controller.choose_service(service)
    return k.controller.choose_priority(None)


def test_offline_exhausted_lease_raises_one_fault_per_service_and_top_up_clears_it(tmp_path: Path) -> None:
    src = FakeLeaseSource()
    k = make_kiosk(tmp_path, src)
    try:
        assert tap(k, "HT").number == 1001  # lease 1001..1003 while online
        src.online = False
        assert [tap(k, "HT").number for _ in range(2)] == [1002, 1003]
        assert fault_events(k.outbox) == []  # issuing offline from the lease is not a fault

        assert tap(k, "HT") is None  # lease used up, ticketing unreachable: refused
        assert k.controller.notice == ("no_numbers_offline", {})
        faults = fault_events(k.outbox)
        assert len(faults) == 1
        f = faults[0]
        assert (f.code, f.active, f.detail) == ("lease_exhausted_ht", True, "service=HT")
        assert f.message_vi == "Hết số dự phòng khi mất kết nối: không cấp được số cho dịch vụ Hộ tịch"
        assert f.message_en == "Out of numbers while offline: cannot issue for Civil status"
        assert "lease_exhausted_ht" in k.faults.active

        assert tap(k, "HT") is None  # a second tap: still one fault event
        assert len(fault_events(k.outbox)) == 1
        assert tap(k, "DD") is None  # another service with no lease: its own fault
        assert [(f.code, f.active) for f in fault_events(k.outbox)] == [
            ("lease_exhausted_ht", True), ("lease_exhausted_dd", True)]
    finally:
        k.stop()

    k = make_kiosk(tmp_path, src)  # a reboot while still offline: the fault stays raised, not raised again
    try:
        assert set(k.faults.active) == {"lease_exhausted_ht", "lease_exhausted_dd"}
        assert tap(k, "HT") is None
        assert len(fault_events(k.outbox)) == 2

        src.online = True
        k.issuer.top_up_all(["HT"])  # what the background top-up does once the broker is back
        faults = fault_events(k.outbox)
        assert [(f.code, f.active) for f in faults] == [
            ("lease_exhausted_ht", True), ("lease_exhausted_dd", True), ("lease_exhausted_ht", False)]
        assert faults[-1].message_en == "Out of numbers while offline: cannot issue for Civil status"
        assert set(k.faults.active) == {"lease_exhausted_dd"}  # DD got no lease yet

        t = tap(k, "HT")
        assert t is not None and t.number == 1004 and not t.offline
        k.issuer.top_up("HT")  # a further top-up does not send another clear
        assert len(fault_events(k.outbox)) == 3
        assert k.store.query("SELECT code FROM fault") == [("lease_exhausted_dd",)]
    finally:
        k.stop()


def test_ticketing_refusing_the_lease_clears_the_offline_fault(tmp_path: Path) -> None:
    src, clock = FakeLeaseSource(online=False), fake_clock()
    store = KioskStore(tmp_path / "kiosk.db")
    outbox = Outbox(tmp_path / "outbox.db", "camau-hcc", "kiosk-1", clock=clock)
    issuer = Issuer(store, outbox, src, "kiosk-1", clock=clock, lease_size=5, lease_low=2,
                    faults=Faults(store, outbox))  # no service names: the code stands in
    try:
        with pytest.raises(NoNumbers) as err:
            issuer.issue("KD")
        assert err.value.reason == "offline"
        f = fault_events(outbox)[0]
        assert (f.code, f.active) == ("lease_exhausted_kd", True)
        assert f.message_en == "Out of numbers while offline: cannot issue for KD"
        src.online = True
        src.refuse.add("KD")  # back online, but ticketing has no numbers left: "finished", not offline
        with pytest.raises(NoNumbers) as err:
            issuer.issue("KD")
        assert err.value.reason == "finished"
        assert [(f.code, f.active) for f in fault_events(outbox)] == [
            ("lease_exhausted_kd", True), ("lease_exhausted_kd", False)]
    finally:
        outbox.close()
        store.close()
