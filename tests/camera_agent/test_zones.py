"""Zones and polygons: parsing, validation, rasterising, config trees."""
from __future__ import annotations

import numpy as np
import pytest

from camera_agent.config import CameraAgentConfig
from camera_agent.errors import BadZone
from camera_agent.zones import PresenceZone, parse_zone_option, rasterise
from common.config import parse_config
from common.errors import ConfigError


def test_parse_zone_option():
    z = parse_zone_option("seat=0.1,0.2,0.5,0.2,0.5,0.9")
    assert z.name == "seat" and z.polygon == ((0.1, 0.2), (0.5, 0.2), (0.5, 0.9))


@pytest.mark.parametrize("text, words", [
    ("seat0.1,0.2", "NAME="),
    ("seat=0.1,0.2,0.5,0.2", "at least 3"),
    ("seat=0.1,0.2,0.5", "pairs"),
    ("seat=0.1,0.2,1.5,0.2,0.5,0.9", "between 0 and 1"),
    ("seat=a,b,c,d,e,f", "numbers"),
    ("seat=0.1,0.1,0.2,0.2,0.3,0.3", "no area"),
])
def test_bad_zone_options_say_what_is_wrong(text, words):
    with pytest.raises(BadZone, match=words):
        parse_zone_option(text)


def test_mask_and_contains_follow_the_polygon():
    tri = PresenceZone("t", ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)))
    m = tri.mask(100, 100)
    assert m[5, 5] == 255 and m[95, 95] == 0
    assert abs(np.count_nonzero(m) / m.size - 0.5) < 0.03
    assert tri.contains(0.2, 0.2) and not tri.contains(0.8, 0.8)


def test_rasterise_crops_to_the_bounding_box():
    z = PresenceZone("r", ((0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)))
    r = rasterise(z, 160, 120)
    assert (r.x, r.y) == (80, 60) and r.mask.shape == (60, 80)
    assert r.area == np.count_nonzero(r.full)


BASE = """
site = "camau-hcc"
device = "cam-01"
[[desks]]
desk = 3
zones = [
  { role = "officer", polygon = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.6]] },
  { role = "citizen", polygon = [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9]] },
]
"""


def test_config_gives_desk_zones_with_roles():
    cfg = parse_config(BASE, CameraAgentConfig)
    zones = cfg.zones()
    assert [(z.desk, z.role) for z in zones] == [(3, "officer"), (3, "citizen")]
    assert "Quầy 3" in zones[0].label


@pytest.mark.parametrize("change, words", [
    (('"citizen"', '"officer"'), "one zone only"),
    (("[0.9, 0.9]", "[1.9, 0.9]"), "outside the frame"),
    (("[[desks]]", "[detection]\nfg_treshold = 3\n[[desks]]"), "unknown key"),
    (("desk = 3", "desk = 0"), "desk"),
])
def test_config_refuses_nonsense_naming_the_line(change, words):
    text = BASE.replace(*change)
    with pytest.raises(ConfigError, match=words) as exc:
        parse_config(text, CameraAgentConfig, "camera.toml")
    assert "camera.toml:" in str(exc.value)


def test_example_config_is_valid():
    from pathlib import Path

    from common.config import load_config
    cfg = load_config(Path(__file__).resolve().parents[2] / "config" / "camera.toml", CameraAgentConfig)
    assert len(cfg.zones()) >= 2
