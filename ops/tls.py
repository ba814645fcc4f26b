"""A site's own certificate authority and per-device certificates (Python ``cryptography``).

Layout under the TLS directory (``/etc/motcua/tls`` on the server)::

    ca.crt  ca.key              the site CA (10 years), key readable by root only
    server.crt  server.key      the broker's certificate (names: host name, localhost, 127.0.0.1, extra)
    devices/<id>.crt  <id>.key  one client certificate per device, CN = device id
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class CertPair(NamedTuple):
    cert: Path
    key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)


def _name(cn: str, site: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"motcua {site}"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)


def ensure_ca(tls_dir: Path, site: str) -> tuple[CertPair, bool]:
    """The site CA, created when absent. Returns (paths, created)."""
    pair = CertPair(tls_dir / "ca.crt", tls_dir / "ca.key")
    if pair.cert.exists() and pair.key.exists():
        return pair, False
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"motcua {site} site CA", site)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(_now())
            .not_valid_after(_now() + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    _write_key(pair.key, key)
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair, True


def _load_ca(ca: CertPair) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    key = serialization.load_pem_private_key(ca.key.read_bytes(), None)
    return cert, key  # type: ignore[return-value]


def issue(ca: CertPair, out: CertPair, site: str, cn: str, *, server_names: list[str] | None = None,
          days: int = 3650) -> CertPair:
    """Sign a certificate: a server one when server_names is given, else a client one."""
    ca_cert, ca_key = _load_ca(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    b = (x509.CertificateBuilder().subject_name(_name(cn, site)).issuer_name(ca_cert.subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(_now()).not_valid_after(_now() + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if server_names is not None:
        sans: list[x509.GeneralName] = []
        for n in server_names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = b.sign(ca_key, hashes.SHA256())
    _write_key(out.key, key)
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


def ensure_server_cert(tls_dir: Path, site: str, names: list[str]) -> tuple[CertPair, bool]:
    pair = CertPair(tls_dir / "server.crt", tls_dir / "server.key")
    if pair.cert.exists() and pair.key.exists():
        return pair, False
    ca, _ = ensure_ca(tls_dir, site)
    return issue(ca, pair, site, names[0], server_names=names), True


def device_cert(tls_dir: Path, site: str, device: str) -> CertPair:
    """A fresh client certificate for a device (a replaced device gets a new one)."""
    ca, _ = ensure_ca(tls_dir, site)
    out = CertPair(tls_dir / "devices" / f"{device}.crt", tls_dir / "devices" / f"{device}.key")
    return issue(ca, out, site, device)
