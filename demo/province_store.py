"""The province store of ``motcua demo --sites N``: a private PostgreSQL cluster (ops/pgcluster.py,
initdb + pg_ctl on a free port) that the central collectors share, and what the demo asks of it
(events per site, which of a site's events it lacks)."""
from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

DEMO_DB = "province"


def _collector_keys() -> set[str]:
    from collector.config import CollectorConfig
    return set(CollectorConfig.model_fields)


def cluster_dir(directory: Path) -> Path:
    """Where the cluster lives: ``directory``/pg, or (as root, when a parent of ``directory`` is
    closed to other users, like a mkdtemp or pytest directory, and PostgreSQL runs as an
    unprivileged user) a new directory under the system's temp dir, named in ``directory``/pg.path."""
    found = existing_cluster_dir(directory)
    if found is not None:
        return found
    here = directory.resolve() / "pg"
    if os.geteuid() != 0 or all(p.stat().st_mode & 0o001 for p in here.parents if p.exists()):
        return here
    other = Path(tempfile.mkdtemp(prefix="motcua-province-pg-"))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pg.path").write_text(f"{other}\n", encoding="utf-8")
    return other


def existing_cluster_dir(directory: Path) -> Path | None:
    """The cluster a demo or bench made for ``directory`` (None: none yet)."""
    named = directory / "pg.path"
    if named.exists():
        return Path(named.read_text(encoding="utf-8").strip())
    return directory / "pg" if (directory / "pg").is_dir() else None


class CentralStore:
    """One PostgreSQL cluster under ``directory``/pg with the database ``province``.

    Interim (until the collector's PostgreSQL backend lands): a collector without a ``store`` key
    gets one SQLite file, ``directory``/central.db, shared by the central collectors."""

    def __init__(self, cluster: Any, sqlite_path: Path | None = None):
        self.cluster = cluster
        self.sqlite_path = sqlite_path
        self.url: str = cluster.url if cluster is not None else str(sqlite_path)

    @staticmethod
    def missing_requirement() -> str | None:
        """Why the province cannot run here (PostgreSQL's server binaries absent), or None."""
        if "store" not in _collector_keys():
            return None
        from ops.pgcluster import find_bindir
        try:
            find_bindir()
        except FileNotFoundError as exc:
            return str(exc)
        return None

    @classmethod
    def start(cls, directory: Path) -> "CentralStore":
        if "store" not in _collector_keys():
            return cls(None, directory / "central.db")
        from ops.pgcluster import PgCluster
        return cls(PgCluster(cluster_dir(directory), dbname=DEMO_DB).start())

    def describe(self) -> str:
        if self.cluster is None:
            return f"SQLite {self.sqlite_path}"
        return f"PostgreSQL 127.0.0.1:{self.cluster.port}/{DEMO_DB} (cluster in {self.cluster.dir})"

    def collector_toml(self, i: int, *, broker: str, http: str, user: str, password: str, folder: Path) -> str:
        """Central collector ``i``'s config: every site ('+') through the shared subscription
        (``[province] central``), the shared store, its own client id and own files (its outbox)."""
        keys = _collector_keys()
        if "store" in keys:
            store = f'store = "{self.url}"\ndb = "{folder / f"collector-{i}.db"}"'
        else:
            store = f'db = "{self.url}"'
        central = "[province]\ncentral = true\n\n" if "province" in keys else ""
        return (f'broker = "{broker}"\n{store}\nhttp = "{http}"\nsite = "+"\n'
                f'client_id = "province-collector-{i}"\n\n{central}'
                f'[mqtt]\nusername = "{user}"\npassword = "{password}"\n')

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.cluster is None:
            conn = sqlite3.connect(str(self.sqlite_path), timeout=10)
            try:
                return list(conn.execute(sql, params).fetchall())
            except sqlite3.OperationalError:
                return []
            finally:
                conn.close()
        import psycopg
        with psycopg.connect(self.url, connect_timeout=10) as pg:
            try:
                return list(pg.execute(sql.replace("?", "%s"), params).fetchall())
            except psycopg.errors.UndefinedTable:
                return []  # the collectors have not migrated it yet

    def events_by_site(self) -> dict[str, int]:
        return {str(s): int(n) for s, n in self._rows("SELECT site, count(*) FROM events GROUP BY site")}

    def missing(self, site: str, site_db: Path) -> set[str]:
        """Ids the site's own store holds and the province store lacks."""
        conn = sqlite3.connect(f"file:{site_db}?mode=ro", uri=True)
        try:
            own = {r[0] for r in conn.execute("SELECT id FROM events WHERE site=?", (site,))}
        except sqlite3.OperationalError:
            own = set()
        finally:
            conn.close()
        return own - {r[0] for r in self._rows("SELECT id FROM events WHERE site=?", (site,))}

    def stop(self, remove: bool = False) -> None:
        """Stop the cluster (``remove``: and delete its directory)."""
        if self.cluster is not None:
            self.cluster.stop(remove=remove)
