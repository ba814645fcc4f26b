"""The rollup and province-report SQL runs on PostgreSQL as on SQLite (issue 17: one store, two
engines): the dirty marks and their ``gen``, each site's first event, the day rows' upsert, the
directory fingerprint, and a province report of closed, computed days read from the rollups. A private
cluster (tests/support/pg.py); the collector's ``?`` placeholders turned into psycopg's ``%s`` as the
PostgreSQL backend does. (The days computed from the events use the site report's own SQL, which the
PostgreSQL backend's contract tests run on both engines.)"""
from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest

from collector import province_load as pl
from collector import rollups
from collector.db import connect
from collector.periods import Period
from collector.province_reports import province_report
from tests.province.dashboard_store import SITES, TZ, ProvinceWriter
from tests.support.pg import fresh_database, pg_cluster  # noqa: F401 (the fixture)

psycopg = pytest.importorskip("psycopg")

FIGURE_COLUMNS = ", ".join(f"{c} {'double precision' if c in rollups.NULLABLE or c.endswith('_sum') else 'bigint'}"
                           for c in rollups.FIGURES)
TABLES = {  # as the PostgreSQL store types them
    **{rollups.table(g): f"site text, day text, key text, {FIGURE_COLUMNS}, computed_epoch double precision, "
                         "PRIMARY KEY (site, day, key)" for g in rollups.GRAINS},
    "rollup_dirty": "site text, day text, gen bigint, PRIMARY KEY (site, day)",
    "rollup_sites": "site text PRIMARY KEY, first_epoch double precision",
    "meta": "key text PRIMARY KEY, value text",
    "devices": "site text, device text, status text, PRIMARY KEY (site, device)",
    "retained_state": "topic text PRIMARY KEY, site text, device text, name text, key text, payload text",
}


class Row(tuple):  # type: ignore[type-arg]
    """A row by position and by name, as the backend's rows are."""

    names: tuple[str, ...] = ()

    def __getitem__(self, k: Any) -> Any:  # type: ignore[override]
        return super().__getitem__(self.names.index(k) if isinstance(k, str) else k)


class Rows(list):  # type: ignore[type-arg]
    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


class Pg:
    """A psycopg connection spoken to with ``?`` placeholders, rows by name and position."""

    def __init__(self, url: str):
        self.conn = psycopg.connect(url, autocommit=True)

    def execute(self, sql: str, args: Any = ()) -> Any:
        if sql.startswith("BEGIN"):  # BEGIN IMMEDIATE is BEGIN (the backend's translation)
            sql = "BEGIN"
        cur = self.conn.execute(sql.replace("?", "%s"), list(args))
        if cur.description is None:
            return cur
        names = tuple(d.name for d in cur.description)
        cls = type("R", (Row,), {"names": names})
        return Rows(cls(r) for r in cur.fetchall())

    def executemany(self, sql: str, rows: Any) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), [list(r) for r in rows])


FIRST = date(2026, 11, 2)
NOW = datetime(2026, 11, 9, 9, 0, tzinfo=TZ).timestamp()
STAFF = pl.staff_for(SITES[:2])


@pytest.fixture
def both(pg_cluster, tmp_path: Path) -> Iterator[tuple[Any, Pg]]:  # noqa: ANN001
    db = tmp_path / "c.db"
    w = ProvinceWriter(db)
    w.sites(SITES[:2], datetime(2026, 11, 1, tzinfo=TZ))
    for i in range(6):
        day = FIRST + timedelta(days=i)
        for s in SITES[:2]:
            w.events(pl.day_events(s, day, tickets=8), datetime.combine(day, dtime(19), TZ))
    w.close()
    lite = connect(db)
    rollups.refresh(lite, STAFF, "Asia/Ho_Chi_Minh", NOW)
    pg = Pg(fresh_database(pg_cluster))
    for table, cols in TABLES.items():
        pg.execute(f"CREATE TABLE {table} ({cols})")
        names = [c.split()[0] for c in cols.split(", PRIMARY KEY (")[0].split(", ")]
        rows = lite.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall()
        if rows:
            pg.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", rows)
    yield lite, pg
    pg.conn.close()
    lite.close()


def test_a_closed_period_reads_the_same_on_both_engines(both) -> None:  # noqa: ANN001
    lite, pg = both
    for by in ("site", "department", "service"):
        period = Period.between("2026-11-02", "2026-11-07")
        a = province_report(lite, period, by, staff=STAFF, now=NOW)
        b = province_report(pg, period, by, staff=STAFF, now=NOW)  # type: ignore[arg-type]
        assert a.live_days == b.live_days == 0
        assert [r.key for r in a.rows] == [r.key for r in b.rows] and a.rows
        for ra, rb in zip(a.rows, b.rows):
            assert (ra.name_vi, ra.sites) == (rb.name_vi, rb.sites)
            da, db = asdict(ra.row), asdict(rb.row)
            for k in da:
                assert da[k] == (pytest.approx(db[k]) if isinstance(db[k], float) else db[k]), (by, ra.key, k)


def test_marks_first_days_upserts_and_fingerprint_on_both_engines(both) -> None:  # noqa: ANN001
    lite, pg = both
    z = pl.TZ
    site = SITES[0]
    for conn in (lite, pg):
        conn.execute("DELETE FROM rollup_dirty")
        late = datetime(2026, 11, 3, 10, tzinfo=TZ).timestamp()
        assert rollups.mark_dirty(conn, [(site, "presence", late), (site, "rating", late)], z, NOW) == 6  # 3rd..8th
        rollups.mark_dirty(conn, [(site, "rating", late)], z, NOW)
        gens = {r[0]: r[1] for r in conn.execute("SELECT day, gen FROM rollup_dirty WHERE site=?", (site,))}
        assert gens["2026-11-03"] == 2 and gens["2026-11-04"] == 1
        early = datetime(2026, 10, 30, 8, tzinfo=TZ).timestamp()
        rollups.note_first(conn, {site: early, "huyen-new": early})
        rollups.note_first(conn, {site: NOW})  # a later event does not move it
        assert rollups.first_days(conn, z)[site] == date(2026, 10, 30)
        figs = rollups.day_figures(lite, site, date(2026, 11, 4), "Asia/Ho_Chi_Minh", STAFF, NOW)
        rollups.write_day(conn, site, date(2026, 11, 4), figs, NOW)
        rollups.write_day(conn, site, date(2026, 11, 4), figs, NOW + 1)  # again: replaced, not doubled
        n = [conn.execute(f"SELECT count(*), max(computed_epoch) FROM {rollups.table(g)} WHERE site=? AND "
                          "day='2026-11-04'", (site,)).fetchone() for g in rollups.GRAINS]
        assert sum(x[0] for x in n) == len(figs) and {x[1] for x in n} == {NOW + 1}
        assert rollups.check_fingerprint(conn, STAFF) is False  # the fixture's refresh stored it (lite) / copied (pg)
        moved = pl.staff_for(SITES[:1])
        assert rollups.check_fingerprint(conn, moved) is True
        assert all(conn.execute(f"SELECT count(*) FROM {rollups.table(g)}").fetchone()[0] == 0 for g in rollups.GRAINS)
