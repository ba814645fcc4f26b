"""The province store of ``motcua demo --sites N``: a private PostgreSQL cluster (ops/pgcluster.py,
initdb + pg_ctl on a free port) that the central collectors share, and what the demo asks of it
(events per site, which of a site's events it lacks)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ops.pgcluster import PgCluster

DEMO_DB = "province"


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
    """One PostgreSQL cluster (see :func:`cluster_dir`) with the database ``province``."""

    def __init__(self, cluster: "PgCluster"):
        self.cluster = cluster
        self.url: str = cluster.url

    @staticmethod
    def missing_requirement() -> str | None:
        """Why the province cannot run here (PostgreSQL's server binaries absent), or None."""
        from ops.pgcluster import find_bindir
        try:
            find_bindir()
        except FileNotFoundError as exc:
            return str(exc)
        return None

    @classmethod
    def start(cls, directory: Path) -> "CentralStore":
        from ops.pgcluster import PgCluster
        return cls(PgCluster(cluster_dir(directory), dbname=DEMO_DB).start())

    def describe(self) -> str:
        return f"PostgreSQL 127.0.0.1:{self.cluster.port}/{DEMO_DB} (cluster in {self.cluster.dir})"

    def collector_toml(self, i: int, *, broker: str, http: str, user: str, password: str, folder: Path) -> str:
        """Central collector ``i``'s config: every site ('+') through the shared subscription
        (``[province] central``), the shared store, its own client id and own files (its outbox)."""
        return (f'broker = "{broker}"\nstore = "{self.url}"\ndb = "{folder / f"collector-{i}.db"}"\n'
                f'http = "{http}"\nsite = "+"\nclient_id = "province-collector-{i}"\n\n'
                f'[province]\ncentral = true\n\n[mqtt]\nusername = "{user}"\npassword = "{password}"\n')

    def events_by_site(self) -> dict[str, int]:
        rows = _rows(self.url, "SELECT site, count(*) FROM events GROUP BY site")
        return {str(s): int(n) for s, n in rows}

    def missing(self, site: str, site_db: Path) -> set[str]:
        """Ids the site's own store holds and the province store lacks."""
        sql = "SELECT id FROM events WHERE site=?"
        return {r[0] for r in _rows(site_db, sql, (site,))} - {r[0] for r in _rows(self.url, sql, (site,))}

    def stop(self, remove: bool = False) -> None:
        """Stop the cluster (``remove``: and delete its directory)."""
        self.cluster.stop(remove=remove)


def _rows(store: str | Path, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """A query on a collector store (a site's SQLite file or the province's PostgreSQL), through
    the collector's own backend; nothing yet (not migrated, not created) is no rows."""
    from collector import backend
    from collector.db import connect
    if isinstance(store, Path) and not store.exists():
        return []
    try:
        conn = connect(store, readonly=True)
    except backend.Error:
        return []
    try:
        return list(conn.execute(sql, params).fetchall())
    except backend.Error:
        return []
    finally:
        conn.close()
