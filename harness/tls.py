"""TLS for the strict profile, on the harness's side of the connection.

The contexts the harness connects with (`client_context`), the thumbprint that binds a
token to a certificate (`certificate_thumbprint`, RFC 8705 §3.1), and a `Stranger`: a
client certificate from a CA no agency trusts, to show that the agency refuses it and
to bind tokens to a certificate the harness does not present.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import ssl
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.context import TlsCredentials

__all__ = [
    "Stranger",
    "certificate_thumbprint",
    "client_context",
    "make_stranger",
    "probe_context",
    "thumbprint",
]


def thumbprint(der: bytes) -> str:
    """x5t#S256: base64url (unpadded) SHA-256 of the DER certificate (RFC 8705 §3.1)."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def certificate_thumbprint(cert_file: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return thumbprint(cert.public_bytes(serialization.Encoding.DER))


def client_context(tls: TlsCredentials, *, present: tuple[Path, Path] | None) -> ssl.SSLContext:
    """Verifies the target against `tls.ca_file`, speaks TLS ≥ 1.2, presents `present`
    (certificate and key files) when asked for a client certificate."""
    context = ssl.create_default_context(cafile=str(tls.ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if present is not None:
        context.load_cert_chain(*present)
    return context


def probe_context(tls: TlsCredentials, version: ssl.TLSVersion) -> ssl.SSLContext:
    """Offers exactly `version`, with the harness's client certificate, for a handshake
    probe. OpenSSL 3 hides TLS 1.0/1.1 below security level 0, and Python warns that they
    are deprecated — which is why we offer them: the target must refuse them."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the version is on trial here, not the certificate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


@dataclass(frozen=True, slots=True)
class Stranger:
    """A client identity the agency never trusted: its context, thumbprint and key."""

    context: ssl.SSLContext
    thumbprint: str
    key: ec.EllipticCurvePrivateKey


def make_stranger(tls: TlsCredentials) -> Stranger:
    """A self-signed client certificate (its own CA), loaded into a client context that
    still verifies the target; the key files live only while the context loads them."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed(key)
    context = client_context(tls, present=None)
    with tempfile.TemporaryDirectory(prefix="lienthong-stranger-") as folder:
        cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        context.load_cert_chain(cert_file, key_file)
    return Stranger(context, thumbprint(cert.public_bytes(serialization.Encoding.DER)), key)


def _self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lienthong stranger")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(key, hashes.SHA256())
    )
