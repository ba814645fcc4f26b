"""The collector's registry check for appointments: a desk check-in's ticket comes from ticketing
(issued, with its appointment code) and is stored; appointment events only from ticketing."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from collector.authz import Authz
from collector.store import Incoming
from common.registry import Registry
from mqtt import topics
from mqtt.schemas import Envelope

SITE = "test-hcc"
REGISTRY = f'site = "{SITE}"\n[devices.ticketing]\nrole = "ticketing"\n[devices.kiosk-1]\nrole = "kiosk"\n'


def _msg(device: str, type_: str, data: Mapping[str, object]) -> Incoming:
    env = Envelope(v=1, id="0193a4c2-9000-7000-8000-000000000001", seq=1, ts=datetime.now(timezone.utc),
                   clock_synced=True, site=SITE, device=device, type=type_, data=data)  # type: ignore[arg-type]
    return Incoming(topics.event(SITE, device, type_), env.model_dump_json().encode(), False,
                    datetime.now(timezone.utc))


def test_desk_check_in_ticket_and_appointment_events(tmp_path: Path) -> None:
    (tmp_path / "devices.toml").write_text(REGISTRY, encoding="utf-8")
    authz = Authz(Registry.load(tmp_path / "devices.toml"))
    ticket = {"action": "issued", "ticket": "1004", "number": 1004, "day": "2026-11-23", "service": "HT",
              "priority": "appointment"}
    assert authz.check(_msg("ticketing", "ticket", ticket | {"appointment": "482913"})) is None
    assert "only kiosks issue" in (authz.check(_msg("ticketing", "ticket", ticket)) or "")
    appt = {"action": "missed", "code": "482913", "day": "2026-11-23", "service": "HT", "start": "09:30",
            "end": "10:00"}
    assert authz.check(_msg("ticketing", "appointment", appt)) is None
    assert "only ticketing" in (authz.check(_msg("kiosk-1", "appointment", appt)) or "")
    assert json.loads(json.dumps(appt))
