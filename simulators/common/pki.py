"""The sandbox PKI of the strict profile (DOMAIN.md §8): a local CA, server certificates
for simulators on loopback, client certificates for agencies and the harness.

Everything is made on first use and kept under one directory (``<state dir>/pki/``,
never committed: ``.lienthong/`` is ignored), so a restarted sandbox keeps trusting what
it issued. The directories are 0700 and every file 0600 — they hold private keys::

    ca.pem  ca-key.pem                       the sandbox CA
    servers/<name>.pem  servers/<name>-key.pem   for 127.0.0.1, ::1 and localhost
    clients/<name>.pem  clients/<name>-key.pem   CN=<name>, clientAuth

The client certificates double as the registry of RFC 9421 signers: a signature's
``keyid`` is the x5t#S256 thumbprint of one of them (`thumbprint`, RFC 8705 §3.1).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["IssuedCertificate", "SandboxPki", "thumbprint"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CA_DAYS = 3650
_LEAF_DAYS = 397  # the CA/Browser Forum ceiling, so nothing here teaches bad habits
_RENEW_BEFORE = dt.timedelta(days=1)
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def thumbprint(der: bytes) -> str:
    """RFC 8705 §3.1 x5t#S256: base64url (unpadded) SHA-256 of the DER certificate."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    cert_file: Path
    key_file: Path

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_file.read_bytes())

    def der(self) -> bytes:
        return self.certificate().public_bytes(serialization.Encoding.DER)

    def thumbprint(self) -> str:
        return thumbprint(self.der())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the mode of os.open applies only when it creates the file
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fresh(path: Path) -> bool:
    """The certificate at `path` exists and stays valid for at least another day."""
    if not path.exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.not_valid_after_utc - _RENEW_BEFORE > _now()


def _issued_by(issued: IssuedCertificate, ca_cert: x509.Certificate) -> bool:
    """False for a leaf left over from an earlier CA (the CA files were removed)."""
    try:
        issued.certificate().verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _san(hosts: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


class SandboxPki:
    """Issues and keeps the sandbox's certificates; see the module docstring for files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def server(self, name: str, hosts: Iterable[str] = _LOOPBACK) -> IssuedCertificate:
        """A server certificate (serverAuth) for `hosts`, issued once and then reused."""
        extensions = [
            (_san(hosts), False),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ]
        return self._leaf("servers", name, extensions)

    def client(self, name: str) -> IssuedCertificate:
        """A client certificate (clientAuth) with CN=`name`, issued once and then reused."""
        extensions = [(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)]
        return self._leaf("clients", name, extensions)

    def client_certificates(self) -> list[x509.Certificate]:
        """Every client certificate this CA issued that is still on disk."""
        folder = self.directory / "clients"
        if not folder.is_dir():
            return []
        return [
            x509.load_pem_x509_certificate(path.read_bytes())
            for path in sorted(folder.glob("*.pem"))
            if not path.name.endswith("-key.pem")
        ]

    def _leaf(
        self, kind: str, name: str, extensions: Sequence[tuple[x509.ExtensionType, bool]]
    ) -> IssuedCertificate:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"certificate name {name!r} must be 1–64 letters, digits, dots, "
                "dashes or underscores, e.g. agency-000.00.01.H29"
            )
        ca_cert, ca_key = self._ca()
        folder = _private_dir(self.directory / kind)
        issued = IssuedCertificate(folder / f"{name}.pem", folder / f"{name}-key.pem")
        if _fresh(issued.cert_file) and issued.key_file.exists() and _issued_by(issued, ca_cert):
            return issued
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._builder(name, key, ca_cert.subject, _LEAF_DAYS).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_private(issued.key_file, _key_pem(key))
        _write_private(issued.cert_file, cert.public_bytes(serialization.Encoding.PEM))
        return issued

    def _ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key_file = self.directory / "ca-key.pem"
        if _fresh(self.ca_file) and key_file.exists():
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            return x509.load_pem_x509_certificate(self.ca_file.read_bytes()), key
        _private_dir(self.directory)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lienthong sandbox CA")])
        cert = (
            self._builder("lienthong sandbox CA", key, subject, _CA_DAYS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(key_file, _key_pem(key))
        _write_private(self.ca_file, cert.public_bytes(serialization.Encoding.PEM))
        return cert, key

    @staticmethod
    def _builder(
        common_name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, days: int
    ) -> x509.CertificateBuilder:
        now = _now()
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            # An hour back, so a peer whose clock is slightly behind still accepts it.
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
