"""Hold times and summaries, with evidence fed by hand (no frames needed)."""
from __future__ import annotations

import pytest

from camera_agent.presence import HoldState, SummaryWindow


def feed(state: HoldState, raw: list[bool], dt: float = 0.25) -> list[tuple[float, bool]]:
    return [(i * dt, state.present) for i, r in enumerate(raw) if state.update(r, i * dt)]


def test_enter_needs_the_enter_hold():
    s = HoldState(enter_s=1.0, leave_s=2.0)
    changes = feed(s, [False] * 4 + [True] * 10)
    assert changes == [(2.0, True)]  # evidence from t=1.0, held 1 s
    assert s.since == 1.0  # since = when the evidence began


def test_leave_needs_the_leave_hold():
    s = HoldState(enter_s=1.0, leave_s=2.0)
    changes = feed(s, [True] * 8 + [False] * 12)
    assert changes == [(1.0, True), (4.0, False)]


def test_flicker_shorter_than_the_hold_changes_nothing():
    s = HoldState(enter_s=1.0, leave_s=2.0)
    raw = [True] * 8 + ([False] * 7 + [True]) * 5  # gaps of 1.75 s < 2 s
    changes = feed(s, raw)
    assert changes == [(1.0, True)]


@pytest.mark.parametrize("enter, leave", [(0.0, 0.0), (0.5, 5.0), (3.0, 1.0)])
def test_hold_times_are_configurable(enter, leave):
    s = HoldState(enter_s=enter, leave_s=leave)
    assert s.update(False, 0.0) is False
    s.update(True, 10.0)
    assert s.present is (enter == 0.0)
    s.update(True, 10.0 + enter)
    assert s.present
    s.update(False, 20.0)
    s.update(False, 20.0 + leave)
    assert not s.present


def test_summary_share_and_changes():
    w = SummaryWindow(start=0.0)
    w.record("seat", True, 10.0)
    w.record("seat", False, 40.0)
    w.record("seat", True, 70.0)
    share, unknown, changes = w.close("seat", True, 100.0)
    assert changes == 3 and unknown == 0.0
    assert share == pytest.approx((30 + 30) / 100)
