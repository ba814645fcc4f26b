"""A private PostgreSQL 15 cluster for the demo, tests and benches: ``initdb`` into a directory,
``pg_ctl start`` on a free loopback port (its unix socket inside the cluster directory, never
5432), one database, and a ``postgresql://`` URL. Never relies on a server someone else started.

    >>> c = PgCluster(tmp_path / "pg").start()
    >>> c.url                        # 'postgresql://motcua:...@127.0.0.1:40123/motcua'
    >>> c.create_database("t1")      # another database, its URL
    >>> c.stop(remove=True)

As root, initdb and the server run as an unprivileged user (``postgres`` if it exists, else
``nobody``) through ``runuser``; the cluster directory is chowned to it. The superuser ``motcua``
logs in over TCP with a generated password (scram); the socket directory is the cluster's own.

``python -m ops.pgcluster DIR`` starts one in the foreground and prints its URL until Ctrl-C.
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    import psycopg

from common.mosquitto import free_port

PG_HINT = ("PostgreSQL 15 chưa được cài / is not installed: sudo apt-get install -y postgresql "
           "(setup.sh installs it on a server or development machine)")
SUPERUSER = "motcua"
#: settings for a throw-away cluster (tests, the demo): no fsync, so a power cut of the machine may
#: lose it, but a killed server loses no commit (commits still wait for their WAL write);
#: ``durable=True`` keeps PostgreSQL's defaults (benches of the real thing)
FAST_SETTINGS = {"fsync": "off", "full_page_writes": "off"}


def find_bindir() -> Path:
    """The PostgreSQL server binaries: $MOTCUA_PG_BINDIR, /usr/lib/postgresql/15/bin, the newest
    /usr/lib/postgresql/*/bin, or initdb on PATH."""
    cands: list[Path] = []
    if os.environ.get("MOTCUA_PG_BINDIR"):
        cands.append(Path(os.environ["MOTCUA_PG_BINDIR"]))
    cands.append(Path("/usr/lib/postgresql/15/bin"))
    base = Path("/usr/lib/postgresql")
    if base.is_dir():
        cands += sorted((p / "bin" for p in base.iterdir()), key=lambda p: p.parent.name, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        cands.append(Path(on_path).parent)
    for c in cands:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    raise FileNotFoundError(PG_HINT)


def _run_as() -> tuple[list[str], int | None, int | None]:
    """The command prefix and uid/gid the server runs as: ourselves, or as root an unprivileged
    user (initdb refuses root)."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], pw.pw_uid, pw.pw_gid
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


class PgCluster:
    """One PostgreSQL cluster of our own in ``directory`` (created if missing; None: a new
    directory under the system's temp dir, which an unprivileged server user can reach)."""

    def __init__(self, directory: str | Path | None = None, *, dbname: str = "motcua", port: int | None = None,
                 durable: bool = False) -> None:
        if directory is None:
            directory = tempfile.mkdtemp(prefix="motcua-pg-")
        self.dir = Path(directory).resolve()
        self.data = self.dir / "data"
        self.sockets = self.dir / "sock"
        self.log_path = self.dir / "postgres.log"
        self.dbname = dbname
        self.port = port or free_port()
        self.durable = durable
        self.bindir = find_bindir()
        self._prefix, self._uid, self._gid = _run_as()
        pw_file = self.dir / "password"
        self.password = pw_file.read_text().strip() if pw_file.exists() else secrets.token_hex(16)
        self._started = False

    # -------------------------------------------------------------- URLs
    def url_for(self, dbname: str) -> str:
        return (f"postgresql://{SUPERUSER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/"
                f"{quote(dbname, safe='')}")

    @property
    def url(self) -> str:
        """The URL of the cluster's own database (``dbname``)."""
        return self.url_for(self.dbname)

    # -------------------------------------------------------------- life
    def _cmd(self, tool: str, *args: str) -> list[str]:
        return [*self._prefix, str(self.bindir / tool), *args]

    def _check(self, cmd: list[str], what: str) -> None:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if r.returncode != 0:
            log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(f"{what} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}\n{log}")

    def _own(self, path: Path) -> None:
        if self._uid is not None and self._gid is not None:
            os.chown(path, self._uid, self._gid)

    def _reachable(self) -> None:
        """As root: the server's user must reach the cluster directory (a 0700 parent stops it)."""
        if self._uid is None:
            return
        for parent in self.dir.parents:
            st = parent.stat()
            if not st.st_mode & 0o001:
                raise RuntimeError(f"{self.dir}: {parent} is closed to other users (mode {oct(st.st_mode & 0o777)}); "
                                   "PostgreSQL runs as an unprivileged user: put the cluster under /tmp or similar")

    def init(self) -> None:
        """initdb (once: a directory that already holds a cluster is kept)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._reachable()
        if (self.data / "PG_VERSION").exists():
            return
        pw_file = self.dir / "password"
        pw_file.write_text(self.password + "\n")
        os.chmod(pw_file, 0o600)
        self.sockets.mkdir(exist_ok=True)
        for p in (self.dir, pw_file, self.sockets):
            self._own(p)
        self._check(self._cmd("initdb", "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pw_file}",
                              "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                              "--locale=C.UTF-8", "--no-sync"), "initdb")

    def start(self, timeout: float = 30.0) -> "PgCluster":
        self.init()
        settings = {"listen_addresses": "127.0.0.1", "port": str(self.port),
                    "unix_socket_directories": str(self.sockets), "max_connections": "100",
                    "timezone": "UTC", "log_timezone": "UTC"}
        if not self.durable:
            settings.update(FAST_SETTINGS)
        opts = " ".join(f"-c {k}={v}" for k, v in settings.items())
        if not self.log_path.exists():
            self.log_path.touch()
            self._own(self.log_path)
        # the server's log goes to a file it can write; pg_ctl -w waits until it takes connections
        self._check(self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", opts,
                              "-w", "-t", str(int(timeout)), "start"), "pg_ctl start")
        self._started = True
        self._ensure_database(self.dbname)
        return self

    def _admin(self) -> "psycopg.Connection[tuple[Any, ...]]":
        import psycopg
        return psycopg.connect(self.url_for("postgres"), autocommit=True, connect_timeout=10)

    def _ensure_database(self, name: str) -> None:
        with self._admin() as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new empty database (or a copy of ``template``); its URL."""
        _identifier(name)
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            tmpl = f' TEMPLATE "{_identifier(template)}" STRATEGY FILE_COPY' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{tmpl}')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_identifier(name)}" WITH (FORCE)')

    @property
    def running(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            os.kill(int(pid_file.read_text().split()[0]), 0)
        except (ValueError, IndexError, ProcessLookupError):
            return False
        except PermissionError:
            return True
        return True

    def stop(self, remove: bool = False, mode: str = "fast") -> None:
        """pg_ctl stop (``fast``: ends sessions; ``immediate``: like a crash); ``remove`` deletes the
        directory too."""
        if self.running:
            self._check(self._cmd("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"), "pg_ctl stop")
        self._started = False
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "PgCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(remove=False)


def _identifier(name: str) -> str:
    if not name or not all(c.isalnum() or c == "_" for c in name) or len(name) > 63:
        raise ValueError(f"database name {name!r}: letters, digits and _ only (at most 63)")
    return name


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m ops.pgcluster DIR   (starts a private cluster, prints its URL; Ctrl-C stops it)",
              file=sys.stderr)
        return 2
    cluster = PgCluster(args[0]).start()
    print(cluster.url, flush=True)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop and cluster.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
