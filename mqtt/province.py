"""The province's gap-filling messages (docs/protocol.md, "Province: central collectors and gap
filling"): the site collector's manifest, a central collector's replay request, the site's account
of a replay. Versioned like every model of :mod:`mqtt.schemas`."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from . import topics
from .schemas import AwareTime, Id, Model

Runs = list[tuple[int, int]]  # inclusive seq ranges [first, last], ascending, not overlapping


def _check_runs(value: dict[str, Runs]) -> dict[str, Runs]:
    for device, runs in value.items():
        topics.check_id(device, "device")
        last = -1
        for a, b in runs:
            if a < 0 or b < a or a <= last:
                raise ValueError(f"device {device}: runs must be ascending, non-overlapping [first, last] "
                                 f"ranges of seqs >= 0 (got [{a}, {b}] after {last})")
            last = b
    return value


DeviceRuns = Annotated[dict[str, Runs], AfterValidator(_check_runs)]


class Manifest(Model):
    """The site collector's retained ``dev/collector/state/manifest``: per device, the seq runs of
    the events its store holds (what it can replay; dead letters and lost seqs are not in it)."""

    v: Literal[1] = 1
    site: Id
    devices: DeviceRuns = Field(description="device -> inclusive seq runs held in the site store")
    ts: AwareTime | None = None


class ReplayRequest(Model):
    """A central collector's ``dev/collector/cmd/replay`` to a site: send these stored events again."""

    v: Literal[1] = 1
    id: str = Field(min_length=1, max_length=64)
    want: DeviceRuns = Field(description="device -> inclusive seq runs wanted")
    by: str = Field(max_length=64, description="the asking central collector (its MQTT client id)")
    ts: AwareTime | None = None


class Replayed(Model):
    """The site collector's ``dev/collector/replayed``, after the replayed events of one request:
    how many it sent, and the wanted runs its store does not hold (never asked for again)."""

    v: Literal[1] = 1
    request_id: str = Field(min_length=1, max_length=64)
    sent: int = Field(ge=0)
    absent: DeviceRuns = Field(default_factory=dict)
    more: bool = Field(False, description="the request was larger than one answer: ask again for the rest")
    ts: AwareTime | None = None
