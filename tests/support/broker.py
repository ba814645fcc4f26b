"""Tests use the same private-Mosquitto launcher as the demo and the benches."""
from common.mosquitto import MOSQUITTO_HINT, Mosquitto, find_mosquitto, free_port

__all__ = ["MOSQUITTO_HINT", "Mosquitto", "find_mosquitto", "free_port"]
