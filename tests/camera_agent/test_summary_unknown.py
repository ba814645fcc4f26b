"""Presence summaries are honest about unknown time: it is neither occupied nor absent."""
from __future__ import annotations

import pytest

from camera_agent.presence import SummaryWindow


def test_unknown_time_is_taken_out_of_the_occupied_share() -> None:
    # window 0..100 s: present 0-40, unknown 40-80 (camera blocked), absent 80-100
    w = SummaryWindow(0.0)
    w.marks["seat"] = (0.0, True)
    w.record("seat", None, 40.0)
    w.record("seat", False, 80.0)
    share, unknown, changes = w.close("seat", False, 100.0)
    assert unknown == pytest.approx(0.4)
    assert share == pytest.approx(40 / 60)  # 40 s present of the 60 s whose state was known
    assert changes == 2


def test_a_window_unknown_throughout_has_no_occupied_share() -> None:
    w = SummaryWindow(0.0)
    w.marks["seat"] = (0.0, None)
    share, unknown, _ = w.close("seat", None, 60.0)
    assert share is None and unknown == pytest.approx(1.0)


def test_without_unknown_time_the_share_is_the_plain_one() -> None:
    w = SummaryWindow(0.0)
    w.record("seat", True, 30.0)
    share, unknown, _ = w.close("seat", True, 60.0)
    assert share == pytest.approx(0.5) and unknown == 0.0
