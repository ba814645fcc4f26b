"""Online numbers: a kiosk takes each number from ticketing at the tap (request op ``number``),
so a service's numbers run in the order citizens took them, across every kiosk.

The number space is ONE counter per (day, service), the ``leases.next`` row that lease blocks
are drawn from: an online number is a block of one taken from that counter. So an online number
can never fall inside a block a kiosk leased earlier (that block lies below the counter) and a
later block starts above every online number. The number is logged for the asking kiosk in
``lease_log`` like any lease (the authority then accepts that kiosk's ``issued`` event for it,
bounded by this moment), and the ticket enters the queue when the kiosk reports the print's
outcome (``issued``, with ``print_failed`` when it never reached paper -> ``not_printed``). A
number whose answer was lost costs a gap, never a ghost ticket a desk would call.

Idempotent like every request: the same request id gets the same number (the answers table).
Kiosks send it with a 1 s MQTT message expiry, and a request older than :data:`STALE_S` (by its
``ts``) is answered ``stale`` and takes no number: ticketing's persistent session would otherwise
deliver requests sent while it was down, for citizens long since served from a lease.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from mqtt.schemas import Request, Response

STALE_S = 5.0

if TYPE_CHECKING:
    from .queue import Outcome, Queue


def take_number(queue: "Queue", req: Request, today: str, now: datetime) -> "Outcome":
    """Allocate the next number of ``today`` for ``req.service`` to ``req.device`` (inside the
    caller's transaction). The answer carries it as a one-number lease (start == end)."""
    from .queue import Outcome, _Rejected

    svc = queue.site.service(req.service or "")
    if svc is None:
        raise _Rejected("unknown_service", f"service {req.service!r}")
    if req.ts is not None and (now - req.ts).total_seconds() > STALE_S:
        raise _Rejected("stale", f"asked at {req.ts.isoformat()}")
    lease = queue.draw(req, svc, today, 1, now)
    return Outcome(Response(request_id=req.id, ok=True, lease=lease, waiting=queue._waiting(today, svc.code)))
