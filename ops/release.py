"""The site server's releases: ``motcua release build|serve|keygen``.

A release is a wheel built from this repository with its version, a manifest ``latest.json``
(version, file name, size, SHA-256) and the manifest's Ed25519 signature ``latest.json.sig``
(base64). The server keeps them under ``/var/lib/motcua/releases`` and serves them over HTTP to
devices that log in with their own broker credentials (HTTP Basic, checked against Mosquitto's
password file, the same one the broker uses): a device that cannot log in to the broker cannot
download a release either. Devices pin the public key from their provisioning bundle
(``release.pub``), so even the plain-HTTP site network cannot hand them a forged release.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from .errors import ReleaseError

log = logging.getLogger(__name__)

RELEASES = Path("/var/lib/motcua/releases")
KEY_DIR = Path("/etc/motcua/release")
PORT = 8090
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_FILE = re.compile(r"^[A-Za-z0-9_.+-]{1,200}\.whl$")


class Manifest(NamedTuple):
    version: str
    wheel: str
    sha256: str
    size: int
    built: str

    def dumps(self) -> bytes:
        return json.dumps(self._asdict(), ensure_ascii=False, sort_keys=True).encode()

    @classmethod
    def loads(cls, data: bytes) -> "Manifest":
        try:
            raw = json.loads(data)
            m = cls(str(raw["version"]), str(raw["wheel"]), str(raw["sha256"]), int(raw["size"]), str(raw["built"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ReleaseError(f"bản kê không hợp lệ / bad release manifest: {exc}") from exc
        if not _FILE.match(m.wheel) or not re.fullmatch(r"[0-9a-f]{64}", m.sha256):
            raise ReleaseError(f"bản kê không hợp lệ / bad release manifest: wheel {m.wheel!r}, sha256 {m.sha256!r}")
        return m


# ---------------------------------------------------------------------------- signing keys
def ensure_key(key_dir: Path = KEY_DIR) -> tuple[Path, bool]:
    """The server's Ed25519 signing key (made once, 0600); returns its path and whether it is new.
    The public key goes next to it as ``signing.pub`` (base64 of the 32 raw bytes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key_path = key_dir / "signing.key"
    if key_path.exists():
        return key_path, False
    key_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    (key_dir / "signing.pub").write_text(base64.b64encode(raw).decode() + "\n")
    return key_path, True


def sign(data: bytes, key_path: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseError(f"{key_path} is not an Ed25519 key")
    return base64.b64encode(key.sign(data)) + b"\n"


def verify(data: bytes, signature: bytes, public_key: str) -> None:
    """Raises ReleaseError unless ``signature`` (base64) signs ``data`` under ``public_key`` (base64)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.strip(), validate=True))
        pub.verify(base64.b64decode(signature.strip(), validate=True), data)
    except (InvalidSignature, ValueError, binascii.Error) as exc:
        raise ReleaseError("chữ ký bản phát hành sai / the release signature does not verify "
                           "against this device's release.pub: not installed") from exc


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------- publishing
def publish(wheel: Path, version: str, releases: Path = RELEASES, key_dir: Path = KEY_DIR) -> Manifest:
    """Copy a wheel into ``releases`` and make it the latest: manifest written, then signed."""
    if not _FILE.match(wheel.name):
        raise ReleaseError(f"{wheel}: not a wheel file name")
    releases.mkdir(parents=True, exist_ok=True)
    dest = releases / wheel.name
    if wheel.resolve() != dest.resolve():
        shutil.copyfile(wheel, dest)
    m = Manifest(version, wheel.name, sha256_file(dest), dest.stat().st_size,
                 datetime.now(TZ).isoformat(timespec="seconds"))
    key_path, _ = ensure_key(key_dir)
    data = m.dumps()
    for name, content in (("latest.json.sig", sign(data, key_path)), ("latest.json", data)):
        tmp = releases / f".{name}.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, releases / name)
    log.info("published %s (%s, sha256 %s)", m.wheel, m.version, m.sha256)
    return m


def build_wheel(repo: Path, out: Path, version: str | None = None) -> tuple[Path, str]:
    """``pip wheel`` of the repository (no dependencies, no network), optionally with another
    version (a copy of the tree with pyproject's version replaced). Returns the wheel and version."""
    text = (repo / "pyproject.toml").read_text()
    found = re.search(r'^version = "([^"]+)"', text, re.M)
    if not found:
        raise ReleaseError(f"{repo}/pyproject.toml has no version line")
    with tempfile.TemporaryDirectory(prefix="motcua-release-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(repo, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "tests",
                                                                 "__pycache__", "bench", "*.db*"))
        if version:
            (src / "pyproject.toml").write_text(text.replace(found.group(0), f'version = "{version}"', 1))
        out.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                               "--quiet", "-w", str(out), str(src)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ReleaseError(f"pip wheel failed: {proc.stderr.strip()[-800:]}")
    ver = version or found.group(1)
    wheels = sorted(out.glob(f"motcua-{ver.replace('-', '_')}-*.whl"))
    if not wheels:
        raise ReleaseError(f"pip wheel made no motcua-{ver} wheel in {out}")
    return wheels[-1], ver


# ---------------------------------------------------------------------------- serving
class ReleaseServer:
    """HTTP server of ``releases`` for devices logged in with their broker credentials."""

    def __init__(self, releases: Path, password_file: Path, host: str = "0.0.0.0", port: int = PORT):
        self.releases = releases
        self.password_file = password_file
        self._pw: Any = None
        self._pw_mtime = -1.0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.port = self.httpd.server_address[1]

    def check(self, user: str, password: str) -> bool:
        from .mosquitto import PasswordFile
        with self._lock:
            try:
                mtime = self.password_file.stat().st_mtime
            except OSError:
                return False
            if mtime != self._pw_mtime:  # provision-device --replace: the old password stops at once
                self._pw, self._pw_mtime = PasswordFile(self.password_file), mtime
            return bool(self._pw.verify(user, password))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: Any) -> None:
                log.info("%s %s", self.address_string(), fmt % args)

            def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if code == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="motcua releases"')
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                user = self._user()
                if user is None:
                    self._send(401, "Sai tài khoản thiết bị / device login refused\n".encode())
                    return
                name = self.path.removeprefix("/v1/")
                if name not in ("latest.json", "latest.json.sig") and not _FILE.match(name):
                    self._send(404, "Không có / not found\n".encode())
                    return
                path = server.releases / name
                if not path.is_file():
                    self._send(404, f"Chưa có bản phát hành / no release {name} yet\n".encode())
                    return
                log.info("release %s to %s", name, user)
                self._send(200, path.read_bytes(), "application/octet-stream")

            def _user(self) -> str | None:
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Basic "):
                    return None
                try:
                    user, _, pw = base64.b64decode(auth[6:], validate=True).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    return None
                return user if user and server.check(user, pw) else None

        return Handler

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.5)

    def start(self) -> "ReleaseServer":
        threading.Thread(target=self.serve_forever, name="release-http", daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
