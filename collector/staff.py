"""People by name, and who is expected where: the officer directory and the roster (collector config).

``config/collector.toml``::

    [[departments]]            # optional: the provincial departments officers are seconded from
    code = "stp"               # (province reports compare them); with departments listed, every
    name_vi = "Sở Tư pháp"     # officer's ``department`` must be one of their codes
    name_en = "Department of Justice"

    [[officers]]
    id = "nv-0101"
    name = "Nguyễn Thị Lan"
    department = "stp"         # a code of [[departments]] (free text when none are listed)
    badge = "B-0101"
    # site = "camau-hcc"       # the site the officer works at (a province-wide directory)

    [[roster]]                 # optional: when an officer has roster entries, their presence share is
    officer = "nv-0101"        # measured against the rostered time (within opening hours) instead of
    desk = 1                   # the time they were signed in at a desk
    days = ["mon", "tue", "wed", "thu", "fri"]
    # hours = [["07:00", "11:30"]]   # default: the site's opening hours of the day
    # from = "2026-11-01"             # default: always
    # until = "2026-12-31"            # inclusive

A report, page or export shows ``name (id)``; an officer missing from the directory shows the id
alone, and nothing fails.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time as dtime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.config import STRICT

from .site_config import WEEKDAYS, Interval, local_days, union

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Department(BaseModel):
    """A provincial department (sở, ban, ngành) officers are seconded from."""

    model_config = STRICT
    code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$",
                      description="short code, lower-case letters, digits, '-', '_', e.g. stp")
    name_vi: str = Field(min_length=1, max_length=120, description="Vietnamese name, e.g. Sở Tư pháp")
    name_en: str = Field(min_length=1, max_length=120, description="English name, e.g. Department of Justice")

    @property
    def label(self) -> str:
        return f"{self.name_vi} / {self.name_en}"


class Officer(BaseModel):
    """One officer (cán bộ, công chức) of the site."""

    model_config = STRICT
    id: str = Field(min_length=1, max_length=64, description="the id desks sign in with, e.g. nv-0101")
    name: str = Field(min_length=1, max_length=120, description="full name, e.g. Nguyễn Thị Lan")
    department: str | None = Field(None, max_length=120, description="the code of a [[departments]] entry "
                                   "(free text, e.g. Phòng Tư pháp, when no departments are listed)")
    badge: str | None = Field(None, max_length=64, description="badge number")
    site: str | None = Field(None, max_length=64, description="the site the officer works at (optional)")


class RosterEntry(BaseModel):
    """An officer expected at a desk on some weekdays (optionally some hours, some dates)."""

    model_config = ConfigDict(**STRICT, populate_by_name=True)
    officer: str = Field(min_length=1, max_length=64)
    desk: int | None = Field(None, ge=1, le=999)
    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    hours: list[tuple[str, str]] | None = None
    from_: date | None = Field(None, alias="from")
    until: date | None = None

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d not in WEEKDAYS]
        if bad:
            raise ValueError(f"ngày không hợp lệ / unknown weekday {bad}: dùng / use {', '.join(WEEKDAYS)}")
        return v

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: list[tuple[str, str]] | None) -> list[tuple[str, str]] | None:
        for a, b in v or []:
            if not (_HHMM.match(a) and _HHMM.match(b)) or b <= a:
                raise ValueError(f"giờ không hợp lệ / hours [{a!r}, {b!r}] must be ['HH:MM', 'HH:MM'], start < end")
        return v

    @model_validator(mode="after")
    def _range(self) -> "RosterEntry":
        if self.from_ and self.until and self.until < self.from_:
            raise ValueError(f"until {self.until} is before from {self.from_}")
        return self

    def intervals(self, first: date, end: date, tz: ZoneInfo,
                  opening: dict[date, list[Interval]]) -> list[Interval]:
        """Rostered epoch intervals over the local days ``[first, end)``; without ``hours``, the day's
        opening hours (``opening``)."""
        out: list[Interval] = []
        for d in local_days(first, end):
            if WEEKDAYS[d.weekday()] not in self.days or (self.from_ and d < self.from_) or \
                    (self.until and d > self.until):
                continue
            if self.hours is None:
                out.extend(opening.get(d, []))
                continue
            for a, b in self.hours:
                out.append((datetime.combine(d, dtime.fromisoformat(a), tz).timestamp(),
                            datetime.combine(d, dtime.fromisoformat(b), tz).timestamp()))
        return union(out)


class Staff:
    """The directory and the roster together; ``Staff()`` is an empty one (ids shown as they are)."""

    def __init__(self, officers: list[Officer] | None = None, roster: list[RosterEntry] | None = None,
                 departments: list[Department] | None = None):
        self.officers = {o.id: o for o in officers or []}
        self.roster = list(roster or [])
        self.departments = {d.code: d for d in departments or []}

    def name(self, officer: str | None) -> str | None:
        o = self.officers.get(officer or "")
        return o.name if o else None

    def department(self, officer: str | None) -> str | None:
        """The officer's department as shown: its Vietnamese name when it is a listed code, else the text."""
        o = self.officers.get(officer or "")
        if o is None or o.department is None:
            return None
        d = self.departments.get(o.department)
        return d.name_vi if d else o.department

    def department_code(self, officer: str | None) -> str:
        """The key the province reports group by: the officer's department code (or text); ``""`` unknown."""
        o = self.officers.get(officer or "")
        return (o.department or "") if o else ""

    def department_names(self, code: str) -> tuple[str, str]:
        """(Vietnamese, English) of a department code; the code itself when not listed, and
        'Không rõ / Unknown' for ``""`` (officers missing from the directory)."""
        if not code:
            return ("Không rõ phòng ban", "Unknown department")
        d = self.departments.get(code)
        return (d.name_vi, d.name_en) if d else (code, code)

    def fingerprint(self) -> str:
        """A hash of everything the rollups depend on (departments of officers, roster): when it
        changes, the rollups are computed again (collector/rollups.py)."""
        import hashlib
        import json
        data = {"o": sorted((o.id, o.department or "") for o in self.officers.values()),
                "r": [r.model_dump(mode="json") for r in self.roster]}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def badge(self, officer: str | None) -> str | None:
        o = self.officers.get(officer or "")
        return o.badge if o else None

    def label(self, officer: str | None) -> str:
        """'Nguyễn Thị Lan (nv-0101)', or the id alone when the directory has no name, or '-'."""
        if not officer:
            return "-"
        n = self.name(officer)
        return f"{n} ({officer})" if n else officer

    def rostered_officers(self) -> set[str]:
        return {r.officer for r in self.roster}

    def rostered_desks(self) -> set[int]:
        return {r.desk for r in self.roster if r.desk is not None}

    def rostered(self, first: date, end: date, tz: ZoneInfo, opening: dict[date, list[Interval]], *,
                 officer: str | None = None, desk: int | None = None) -> list[Interval]:
        iv: list[Interval] = []
        for r in self.roster:
            if (officer is not None and r.officer != officer) or (desk is not None and r.desk != desk):
                continue
            iv.extend(r.intervals(first, end, tz, opening))
        return union(iv)
