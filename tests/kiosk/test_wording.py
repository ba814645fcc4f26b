"""Wording that does not mislead: counts and waits for the citizen's own priority class, "no wait"
only when nobody is ahead, a priority or appointment holder told their own turn."""
from __future__ import annotations

from pathlib import Path

from kiosk.runtime import build
from tests.kiosk.helpers import FakeLeaseSource, fake_clock, kiosk_config, service_state, site_state


def make(tmp_path: Path):  # noqa: ANN201
    k = build(kiosk_config(tmp_path), clock=fake_clock(), source=FakeLeaseSource(), connect=False,
              print_async=False)
    k.state.set_site(site_state())
    return k


def test_people_ahead_counts_only_who_is_called_first(tmp_path: Path) -> None:
    k = make(tmp_path)
    try:
        st = service_state("HT", 7, 1400.0).model_copy(update={"waiting_by_priority": {"": 4, "elderly": 2,
                                                                                      "appointment": 1}})
        k.state.set_service(st)
        s = k.state
        assert s.people_ahead("HT") == 7  # regular: everyone waiting
        assert s.people_ahead("HT", "elderly") == 2  # first class: only other elderly
        assert s.people_ahead("HT", "pregnant") == 2  # after elderly and disabled
        assert s.people_ahead("HT", "appointment") == 3
        assert s.est_wait_s("HT", s.people_ahead("HT", "elderly")) == 400.0
        s.note_issued("HT", "elderly")  # issued here since the last state: counted in its class
        assert s.people_ahead("HT", "elderly") == 3 and s.people_ahead("HT") == 8
        # an older ticketing without the split: everyone counts as ahead, for every class
        k.state.set_service(service_state("HT", 7, 1400.0))
        assert s.people_ahead("HT", "elderly") == 7
    finally:
        k.stop()


def test_no_wait_only_when_nobody_is_ahead(tmp_path: Path) -> None:
    k = make(tmp_path)
    try:
        k.state.set_service(service_state("HT", 1, 0.0))  # one waiting, no pace known yet
        k.state.set_service(service_state("DD", 0, 0.0))
        lines = {x.code: x.detail for x in k.controller.service_lines()}
        assert lines["HT"] == "Đang chờ: 1 người" and "Không phải chờ" not in lines["HT"]
        assert lines["DD"] == "Không phải chờ"
        c = k.controller
        c.choose_service("HT")
        c.choose_priority(None)
        got = c.confirm_lines()
        assert got["ahead"] == "Số người chờ trước bạn: 1"
        assert got["wait"] == "Thời gian chờ dự kiến: chưa rõ"  # never "khoảng 0 phút"
        c.done()
        c.choose_service("DD")
        c.choose_priority(None)
        assert c.confirm_lines()["ahead"] == "Không có ai chờ trước bạn: bạn là người tiếp theo"
        assert c.confirm_lines()["wait"] == ""
    finally:
        k.stop()


def test_a_priority_holder_is_told_their_own_turn(tmp_path: Path) -> None:
    k = make(tmp_path)
    try:
        k.state.set_service(service_state("HT", 9, 1800.0).model_copy(
            update={"waiting_by_priority": {"": 8, "elderly": 1}}))
        c = k.controller
        c.choose_service("HT")
        t = c.choose_priority("elderly")
        assert t.people_ahead == 1 and t.est_wait_s == 200.0
        got = c.confirm_lines()
        assert got["ahead"] == ("Ưu tiên «Người cao tuổi»: bạn được gọi trước người lấy số thường. "
                                "Trước bạn còn 1 người")
        assert got["wait"] == "Thời gian chờ dự kiến: khoảng 3 phút"
        c.toggle_language()
        assert c.confirm_lines()["ahead"] == "“Elderly” priority: called before regular numbers. 1 ahead of you"
    finally:
        k.stop()
