"""TLS for simulators served on loopback: server contexts and the client certificate in
the ASGI scope.

uvicorn terminates TLS but does not tell the app which client certificate the peer
presented, and RFC 8705 token binding needs exactly that. `TlsScopeProtocol` fills the
ASGI TLS extension (``scope["extensions"]["tls"]``, asgiref's TLS spec) from the
connection's SSL object; `peer_certificate` reads it back.
"""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from simulators.common.pki import IssuedCertificate

__all__ = ["TlsScopeProtocol", "peer_certificate", "server_context"]

# ASGI TLS extension: versions as the integers of the TLS wire format.
_WIRE_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def server_context(
    issued: IssuedCertificate,
    *,
    ca_file: Path,
    client_certificates: str = "required",
    legacy_versions: bool = False,
) -> ssl.SSLContext:
    """A server context: TLS ≥ 1.2, client certificates "required", "optional" or "none".

    `legacy_versions` is for the faulty agency that still speaks TLS 1.0 and 1.1; the
    harness must catch it.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert_file, issued.key_file)
    modes = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
    context.verify_mode = modes[client_certificates]
    if client_certificates != "none":
        context.load_verify_locations(cafile=ca_file)
    if legacy_versions:
        _allow_legacy_versions(context)
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _allow_legacy_versions(context: ssl.SSLContext) -> None:
    # OpenSSL 3 refuses TLS 1.0/1.1 at its default security level (they sign with SHA-1);
    # level 0 brings them back, as on the old servers this fault imitates. Python marks
    # the versions deprecated, which is the point here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")


def _tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    der = ssl_object.getpeercert(binary_form=True)
    chain = []
    if der:
        pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        chain.append(pem.decode("ascii"))
    cipher = ssl_object.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _WIRE_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
        "cipher_name": cipher[0] if cipher else None,
    }


class TlsScopeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, adding the ASGI TLS extension to every request."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        ssl_object = self.transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            scope: dict[str, Any] = self.scope  # type: ignore[assignment]
            scope.setdefault("extensions", {})["tls"] = _tls_extension(ssl_object)


def peer_certificate(scope: Any) -> bytes | None:
    """The DER client certificate the peer presented on this connection, if any."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    cert = x509.load_pem_x509_certificate(str(chain[0]).encode("ascii"))
    return cert.public_bytes(serialization.Encoding.DER)
