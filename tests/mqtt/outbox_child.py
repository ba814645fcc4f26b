"""A device process for the crash tests: enqueue N events as fast as it can, print each seq the
moment enqueue returned (so the parent knows which ones were promised), keep draining."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mqtt.client import BrokerConfig, DeviceClient  # noqa: E402
from mqtt.outbox import Outbox  # noqa: E402


def main() -> None:
    db, url, n, reconnect_min = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    ob = Outbox(db, "crash-site", "dev-1")
    client = DeviceClient("crash-site", "dev-1", "test", BrokerConfig(url=url), outbox=ob,
                          telemetry_interval_s=0, reconnect_min_s=reconnect_min, reconnect_max_s=reconnect_min * 2)
    client.start()
    out = sys.stdout
    for i in range(n):
        e = ob.enqueue("rating", {"desk": 1 + i % 8, "score": 1 + i % 5, "scale": 5})
        out.write(f"{e.seq}\n")
        out.flush()
    out.write("DONE\n")
    out.flush()
    while True:
        out.write(f"DEPTH {ob.depth()}\n")
        out.flush()
        time.sleep(0.2)


if __name__ == "__main__":
    main()
