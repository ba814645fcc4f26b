"""What happens in a simulated day: citizens arriving with a morning peak, officers who take
breaks and sometimes step away, service times by service, ratings with a plausible spread.

Pure and seeded: the same seed gives the same day. The simulator asks it what to do next and
performs it through the devices' own code (pins pressed, tickets taken, presence seen).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

# Arrivals per hour of the local day (a morning peak, lunch closed, a smaller afternoon).
HOURLY_ARRIVALS = {7: 28, 8: 55, 9: 60, 10: 45, 11: 18, 13: 20, 14: 34, 15: 30, 16: 16}
# Mean service minutes per service code (log-normal around these); unknown codes use 8.
SERVICE_MINUTES = {"HT": 6.0, "DD": 14.0, "KD": 10.0, "TP": 5.0, "XD": 12.0}
SERVICE_SHARE = {"HT": 0.35, "DD": 0.2, "KD": 0.15, "TP": 0.2, "XD": 0.1}
RATING_WEIGHTS = [0.04, 0.06, 0.12, 0.26, 0.52]  # score 1..5
PRIORITY_SHARE = {"elderly": 0.07, "disabled": 0.02, "pregnant": 0.02}


@dataclass(order=True)
class Arrival:
    at_s: float  # seconds after midnight, local
    service: str = field(compare=False)
    priority: str | None = field(compare=False, default=None)


@dataclass
class OfficerDay:
    desk: int
    officer: str
    badge: str
    arrive_s: float
    leave_s: float
    breaks: list[tuple[float, float]]  # (start, end) seconds after midnight, away from the desk


class DayModel:
    def __init__(self, seed: int, services: list[str], desks: dict[int, list[str]]):
        self.rng = random.Random(seed)
        self.services = services
        self.desks = desks

    def arrivals(self) -> list[Arrival]:
        out: list[Arrival] = []
        weights = [SERVICE_SHARE.get(s, 0.1) for s in self.services]
        for hour, n in HOURLY_ARRIVALS.items():
            count = max(0, int(self.rng.gauss(n, math.sqrt(n))))
            for _ in range(count):
                at = hour * 3600 + self.rng.uniform(0, 3600)
                if 11 * 3600 + 30 * 60 <= at < 13 * 3600 + 30 * 60:
                    continue  # closed for lunch
                svc = self.rng.choices(self.services, weights)[0]
                prio = None
                r = self.rng.random()
                acc = 0.0
                for p, share in PRIORITY_SHARE.items():
                    acc += share
                    if r < acc:
                        prio = p
                        break
                out.append(Arrival(at, svc, prio))
        return sorted(out)

    def officers(self) -> list[OfficerDay]:
        days = []
        for desk in sorted(self.desks):
            arrive = 7 * 3600 - self.rng.uniform(0, 600) + self.rng.choice([0, 0, 0, 900])
            leave = 17 * 3600 - self.rng.uniform(0, 900)
            breaks = []
            t = arrive + self.rng.uniform(3600, 5400)
            while t < leave - 1800:
                if not (11.5 * 3600 <= t < 13.5 * 3600):
                    length = self.rng.choice([180, 300, 600, 900, 1200])
                    breaks.append((t, t + length))
                t += self.rng.uniform(3600, 6000)
            breaks.append((11.5 * 3600, 13.5 * 3600))  # lunch
            days.append(OfficerDay(desk, f"nv-{100 + desk:04d}", f"CARD{desk:04d}", arrive, leave,
                                   sorted(breaks)))
        return days

    def service_seconds(self, service: str) -> float:
        mean = SERVICE_MINUTES.get(service, 8.0) * 60
        sigma = 0.5
        return max(60.0, self.rng.lognormvariate(math.log(mean) - sigma ** 2 / 2, sigma))

    def no_show(self) -> bool:
        return self.rng.random() < 0.05

    def rating(self) -> int | None:
        """A citizen's score, or None when they walk off without rating (about 1 in 6)."""
        if self.rng.random() < 0.16:
            return None
        return self.rng.choices([1, 2, 3, 4, 5], RATING_WEIGHTS)[0]

    def double_press(self) -> bool:
        return self.rng.random() < 0.03

    def steps_away(self) -> float | None:
        """Sometimes an officer leaves the desk between citizens for a few minutes."""
        return self.rng.uniform(120, 420) if self.rng.random() < 0.06 else None


def away(officer: OfficerDay, t: float) -> bool:
    if t < officer.arrive_s or t >= officer.leave_s:
        return True
    return any(a <= t < b for a, b in officer.breaks)
