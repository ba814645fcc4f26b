"""Camera agent: presence per desk zone from a camera; only summaries leave the device."""
from .presence import PresencePipeline, ZoneChange
from .zones import PresenceZone, parse_zone_option

__all__ = ["PresencePipeline", "PresenceZone", "ZoneChange", "parse_zone_option"]
