"""``motcua update`` on a device: fetch the site server's release, verify it, install it into a
new venv beside the running one, switch over, restart, and roll back by itself when the new
version does not become healthy.

Layout (made by setup.sh): ``/opt/motcua/venvs/<version>-<hash>/`` per installed version,
``/opt/motcua/venv`` a symlink to the one the units run. A new venv starts as hard links of the
running one's site-packages (no download, no copy on the SD card), then pip installs the new
wheel over it from the downloaded file only (``--no-index``). The switch is one ``rename`` of a
symlink, so at every instant the units start either the old or the new version, never a mix.

Health after the switch: every unit of the role ``active (running)`` (Type=notify: READY=1 came
after the role's own set-up), then still so with the same main PID and no restart for
``settle_s`` (the watchdog kills a hung loop, Restart=always would show as a new PID); and the
new ``motcua --version`` saying the release's version. Otherwise the symlink goes back and the
units restart on the old version.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, NamedTuple
from urllib.parse import urlparse

from .errors import ReleaseError
from .release import Manifest, sha256_file, verify

log = logging.getLogger(__name__)

PREFIX = Path("/opt/motcua")
PUBLIC_KEY = Path("/etc/motcua/release.pub")
RELEASE_PORT = 8090


class Result(NamedTuple):
    state: str        # current | updated | rolled-back | failed
    version: str      # the version running afterwards
    target: str       # the release's version ("" when it could not be read)
    detail: str


Restart = Callable[[list[str]], None]
Health = Callable[[list[str], float], str | None]   # None when healthy, else what is wrong


def systemctl_restart(units: list[str]) -> None:
    if units:
        subprocess.run(["systemctl", "restart", *units], check=False, capture_output=True, timeout=180)


def _show(unit: str) -> dict[str, str]:
    out = subprocess.run(["systemctl", "show", "-p", "ActiveState,SubState,MainPID,NRestarts", unit],
                         capture_output=True, text=True, timeout=30).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def systemd_health(units: list[str], settle_s: float, start_timeout_s: float = 150.0) -> str | None:
    """Every unit active (running), then unchanged (same PID, no restart) for settle_s."""
    seen: dict[str, tuple[str, str]] = {}
    end = time.monotonic() + start_timeout_s
    for unit in units:
        first = _show(unit).get("NRestarts", "0")
        while True:
            s = _show(unit)
            if (s.get("ActiveState"), s.get("SubState")) == ("active", "running"):
                seen[unit] = (s.get("MainPID", ""), s.get("NRestarts", ""))
                break
            if s.get("ActiveState") == "failed" or int(s.get("NRestarts", "0") or 0) > int(first or 0) + 1:
                return f"{unit} keeps failing ({s.get('ActiveState')}, {s.get('NRestarts')} restarts)"
            if time.monotonic() > end:
                return f"{unit} is {s.get('ActiveState')} ({s.get('SubState')}), not active (running)"
            time.sleep(1.0)
    time.sleep(settle_s)
    for unit, (pid, restarts) in seen.items():
        s = _show(unit)
        now = (s.get("MainPID", ""), s.get("NRestarts", ""))
        if (s.get("ActiveState"), s.get("SubState")) != ("active", "running") or now != (pid, restarts):
            return f"{unit} did not stay up for {settle_s:g} s (now {s.get('ActiveState')}, pid {now[0]}, restarts {now[1]})"
    return None


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise ReleaseError(f"{venv} has no lib/python3*/site-packages")
    return found[-1]


def release_of(venv: Path) -> dict[str, str]:
    """What a venv holds: its .motcua-release (written by motcua update), else the version of
    the motcua installed in it (a venv setup.sh made from source)."""
    try:
        return dict(json.loads((venv / ".motcua-release").read_text()))
    except (OSError, ValueError):
        pass
    for di in sorted(venv.glob("lib/python3*/site-packages/motcua-*.dist-info")):
        return {"version": di.name.removeprefix("motcua-").removesuffix(".dist-info")}
    return {}


class Updater:
    def __init__(self, base_url: str, username: str, password: str, *, extra: str, units: list[str],
                 prefix: Path = PREFIX, public_key: str | None = None, settle_s: float = 20.0,
                 restart: Restart = systemctl_restart, health: Health | None = None,
                 timeout_s: float = 60.0):
        self.base_url = base_url.rstrip("/") + "/"
        self.auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.extra, self.units, self.prefix = extra, units, prefix
        self.public_key, self.settle_s, self.timeout_s = public_key, settle_s, timeout_s
        self.restart = restart
        self.health = health if health is not None else systemd_health
        self.link = prefix / "venv"

    # ------------------------------------------------------------------ fetching
    def _get(self, name: str) -> bytes:
        req = urllib.request.Request(self.base_url + name, headers={"Authorization": self.auth})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                return bytes(r.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise ReleaseError(f"máy chủ từ chối tài khoản thiết bị / the server refused this device's "
                                   f"login at {self.base_url} (provision-device --replace?)") from exc
            raise ReleaseError(f"{self.base_url}{name}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ReleaseError(f"không tới được máy chủ / cannot reach {self.base_url}: {exc}") from exc

    def manifest(self) -> Manifest:
        data = self._get("latest.json")
        if self.public_key:
            verify(data, self._get("latest.json.sig"), self.public_key)
        else:
            log.warning("no release.pub on this device: the release is checked by its SHA-256 only")
        return Manifest.loads(data)

    def download(self, m: Manifest, into: Path) -> Path:
        path = into / m.wheel
        path.write_bytes(self._get(m.wheel))
        got = sha256_file(path)
        if got != m.sha256 or path.stat().st_size != m.size:
            raise ReleaseError(f"tệp tải về sai / {m.wheel}: SHA-256 {got[:16]}... size {path.stat().st_size}, "
                               f"the manifest says {m.sha256[:16]}... size {m.size}: not installed")
        return path

    # ------------------------------------------------------------------ installing
    def current(self) -> Path | None:
        return self.link.resolve() if self.link.is_symlink() else None

    def install(self, m: Manifest, wheel: Path) -> Path:
        """A new venv for the release beside the running one (which stays untouched)."""
        old = self.current()
        if old is None:
            raise ReleaseError(f"{self.link} is not a symlink to a venv: run setup.sh --role ... first")
        new = self.prefix / "venvs" / f"{m.version}-{m.sha256[:12]}"
        if release_of(new).get("sha256") == m.sha256 and not (new / ".motcua-broken").exists():
            return new
        if new == old:
            raise ReleaseError(f"{new} is the running venv")
        shutil.rmtree(new, ignore_errors=True)
        cfg = (old / "pyvenv.cfg").read_text() if (old / "pyvenv.cfg").exists() else ""
        args = [str(old / "bin/python"), "-m", "venv", "--without-pip"]
        if "include-system-site-packages = true" in cfg:
            args.append("--system-site-packages")
        try:
            self._run(args + [str(new)])
            dest = site_packages(new)
            self._run(["cp", "-al", f"{site_packages(old)}/.", f"{dest}/"])
            self._run([str(new / "bin/python"), "-m", "pip", "install", "--quiet", "--no-index",
                       "--disable-pip-version-check", "--find-links", str(wheel.parent),
                       f"{wheel}[{self.extra}]" if self.extra else str(wheel)])
            ver = self._run([str(new / "bin/motcua"), "--version"]).strip()
            if m.version not in ver:
                raise ReleaseError(f"the new venv's motcua --version says {ver!r}, not {m.version}")
        except (ReleaseError, OSError):
            shutil.rmtree(new, ignore_errors=True)
            raise
        (new / ".motcua-release").write_text(json.dumps({"version": m.version, "sha256": m.sha256,
                                                         "wheel": m.wheel}) + "\n")
        return new

    def _run(self, args: list[str]) -> str:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise ReleaseError(f"{' '.join(args[:4])} ...: exit {proc.returncode}: "
                               f"{(proc.stderr or proc.stdout).strip()[-600:]}")
        return proc.stdout

    def switch(self, venv: Path) -> None:
        tmp = self.prefix / "venv.new"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(venv)
        os.replace(tmp, self.link)

    def _healthy(self, version: str) -> str | None:
        problem = self.health(self.units, self.settle_s)
        if problem:
            return problem
        try:
            out = self._run([str(self.link / "bin/motcua"), "--version"])
        except (ReleaseError, OSError) as exc:
            return f"motcua --version failed: {exc}"
        return None if version in out else f"motcua --version says {out.strip()!r}, not {version}"

    # ------------------------------------------------------------------ the whole update
    def run(self, *, force: bool = False, progress: Callable[[str, str], None] | None = None) -> Result:
        say = progress or (lambda state, detail: log.info("update: %s %s", state, detail))
        old = self.current()
        running = release_of(old).get("version", "?") if old else "?"
        try:
            m = self.manifest()
        except ReleaseError as exc:
            return Result("failed", running, "", str(exc))
        if old and release_of(old).get("sha256") == m.sha256 and not force:
            return Result("current", running, m.version, "đã là bản mới nhất / already the latest release")
        new_dir = self.prefix / "venvs" / f"{m.version}-{m.sha256[:12]}"
        if (new_dir / ".motcua-broken").exists() and not force:
            return Result("failed", running, m.version, f"{m.version} was rolled back here before (unhealthy); "
                          "not retried without --force")
        say("updating", f"{running} -> {m.version}")
        try:
            with tempfile.TemporaryDirectory(prefix="motcua-update-") as tmp:
                new = self.install(m, self.download(m, Path(tmp)))
        except (ReleaseError, OSError) as exc:
            return Result("failed", running, m.version, str(exc))
        self.switch(new)
        self.restart(self.units)
        problem = self._healthy(m.version)
        if problem is None:
            self.prune(keep=[new, old])
            return Result("updated", m.version, m.version, f"{running} -> {m.version}")
        log.error("update to %s unhealthy (%s): rolling back to %s", m.version, problem, running)
        (new / ".motcua-broken").write_text(problem + "\n")
        if old is not None:
            self.switch(old)
            self.restart(self.units)
        again = self.health(self.units, min(self.settle_s, 5.0))
        detail = f"{m.version} unhealthy ({problem}); back on {running}"
        return Result("rolled-back", running, m.version, detail + (f"; after rollback: {again}" if again else ""))

    def prune(self, keep: list[Path | None]) -> None:
        """Only the running venv and the one before it stay (an SD card is small)."""
        kept = {p.resolve() for p in keep if p is not None}
        for d in (self.prefix / "venvs").iterdir():
            if d.resolve() not in kept and d.is_dir() and not d.name.startswith("."):
                shutil.rmtree(d, ignore_errors=True)


def updater_for(config: Path, *, prefix: Path = PREFIX, public_key: Path = PUBLIC_KEY,
                url: str | None = None, settle_s: float = 20.0, **kwargs: object) -> Updater:
    """An Updater from a role's config (/etc/motcua/<role>.toml): the device's broker login is
    its login to the release server, on the broker's host, port 8090."""
    from .roles import role_of_file
    from .doctor import lookup
    role = role_of_file(config)
    raw = tomllib.loads(config.read_text(encoding="utf-8"))
    mqtt = raw.get("mqtt") or {}
    broker = lookup(raw, role.keys.get("url", "mqtt.url")) or mqtt.get("url", "mqtt://127.0.0.1:1883")
    host = urlparse(str(broker)).hostname or "127.0.0.1"
    units = [r.unit for r in _server_roles()] if role.extra == "server" else [role.unit]
    pub = public_key.read_text().strip() if public_key.exists() else None
    return Updater(url or f"http://{host}:{RELEASE_PORT}/v1/", str(mqtt.get("username", "")),
                   str(mqtt.get("password", "")), extra=role.extra, units=[u for u in units if u],
                   prefix=prefix, public_key=pub, settle_s=settle_s, **kwargs)  # type: ignore[arg-type]


def _server_roles() -> list:  # noqa: ANN202 - list of Role
    from .roles import ROLES
    return [r for r in ROLES.values() if r.extra == "server" and r.unit]
