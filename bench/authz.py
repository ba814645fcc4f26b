"""What the collector's authorization check (collector/authz.py) costs per message, against the
peer it sits next to in the same writer thread: the store's own parse_event of the same message.

    .venv/bin/python bench/authz.py [--n 20000]

Prints both rates and their ratio, then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _util import ROOT  # noqa: F401,I001  (puts the repo on sys.path)

from collector.authz import Authz
from collector.store import Incoming
from common.registry import Registry
from mqtt.schemas import parse_event
from tests.collector.wire import rating

SITE = "camau-hcc"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        reg_path = Path(d) / "devices.toml"
        body = "".join(f'\n[devices.rt-{i:02d}]\nrole = "rating-terminal"\ndesk = {i}\n' for i in range(1, 61))
        reg_path.write_text(f'site = "{SITE}"\n{body}')
        authz = Authz(Registry.load(reg_path))
        now = datetime.now(timezone.utc)
        msgs = [Incoming(*rating(desk=1 + i % 60, device=f"rt-{1 + i % 60:02d}", seq=i), False, now)
                for i in range(args.n)]
        t0 = time.perf_counter()
        refused = sum(authz.check(m) is not None for m in msgs)
        t_authz = time.perf_counter() - t0
        t0 = time.perf_counter()
        for m in msgs:
            parse_event(m.topic, m.payload)
        t_parse = time.perf_counter() - t0
    assert refused == 0
    a_rate, p_rate = args.n / t_authz, args.n / t_parse
    print(f"authz.check: {a_rate:,.0f} msg/s ({t_authz / args.n * 1e6:.1f} µs/msg)")
    print(f"parse_event (peer, same messages): {p_rate:,.0f} msg/s ({t_parse / args.n * 1e6:.1f} µs/msg)")
    print(f"authz costs {t_authz / t_parse:.2f}x a parse_event")
    print(json.dumps({"authz_msgs_per_s": round(a_rate), "parse_event_msgs_per_s": round(p_rate),
                      "authz_over_parse_ratio": round(t_authz / t_parse, 3), "messages": args.n}))


if __name__ == "__main__":
    main()
