"""How load requests authenticate — the same credentials as the conformance suite.

Two kinds, chosen by the run's security profile:

- ``bearer`` (baseline): a token minted by the sandbox identity provider, plain HTTP.
- ``signed`` (strict, DOMAIN.md §8): the token is bound to the harness's client
  certificate (RFC 8705 ``cnf`` x5t#S256), the connection presents that certificate and
  verifies the agency's against the given CA (TLS ≥ 1.2), and every request carries an
  RFC 9421 signature made with the certificate's key — what `harness.signing.
  RequestSigner` makes for certification (@method, @target-uri, content-digest; created,
  keyid, alg, a fresh nonce), written out directly by `LoadSigner`: through the
  http-message-signatures package a signature cost ~300 µs, mostly structured-field
  serialisation, and cut one load process (against a minimal server) from ~9,000 to
  ~2,300 requests/s; written out it costs ~20 µs and the process sends ~7,000/s
  (benchmarks/load_strict.py).

The spec is JSON (it travels to worker processes, possibly on other machines), so it
names PEM files rather than holding keys: a remote worker needs the same files at the
same paths. Keys are loaded once per process, when `build_auth` runs there.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from harness.context import TlsCredentials
from harness.errors import ConfigError
from harness.signing import SIGNATURE_LABEL
from harness.tls import certificate_thumbprint, client_context

__all__ = [
    "AUTH_KINDS",
    "BearerAuth",
    "LoadSigner",
    "RequestAuth",
    "SignedAuth",
    "build_auth",
    "signed_spec",
    "ssl_context_factory",
]

AUTH_KINDS = ("bearer", "signed")
_TLS_FILES = ("ca_file", "cert_file", "key_file")
_COVERED = '("@method" "@target-uri" "content-digest")'  # as harness.signing covers them
_ALGORITHM = "ecdsa-p256-sha256"


class RequestAuth(Protocol):
    """Headers that authenticate one request; called per request, so signers fit."""

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class BearerAuth:
    token: str

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, slots=True)
class LoadSigner:
    """RFC 9421 signatures of the one shape load requests have: the same components and
    parameters as `harness.signing.RequestSigner`, with the signature base written out
    (§2.5) instead of built by a structured-field library. Every value placed in it is
    safe as it is: keyid is base64url, the nonce URL-safe, created an integer."""

    key: ec.EllipticCurvePrivateKey
    key_id: str

    @classmethod
    def from_files(cls, cert_file: Path, key_file: Path) -> LoadSigner:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"{key_file} must hold an EC P-256 key to sign requests")
        return cls(key, certificate_thumbprint(cert_file))

    def headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        """Content-Digest (RFC 9530), Signature-Input and Signature for one request."""
        digest = f"sha-256=:{_b64(hashlib.sha256(body).digest())}:"
        params = (
            f'{_COVERED};created={int(time.time())};keyid="{self.key_id}";'
            f'alg="{_ALGORITHM}";nonce="{secrets.token_urlsafe(18)}"'
        )
        base = (
            f'"@method": {method.upper()}\n"@target-uri": {url}\n'
            f'"content-digest": {digest}\n"@signature-params": {params}'
        )
        der = self.key.sign(base.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)  # RFC 9421 §3.3.4: r and s, 32 bytes each
        signature = _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return {
            "Content-Digest": digest,
            "Signature-Input": f"{SIGNATURE_LABEL}={params}",
            "Signature": f"{SIGNATURE_LABEL}=:{signature}:",
        }


@dataclass(frozen=True, slots=True)
class SignedAuth:
    """A certificate-bound bearer token plus an RFC 9421 signature on every request.

    The signature covers the URL the agency will rebuild from Host and path, so it is made
    over `base_url` + `path` — the URL locust sends to — and over the body bytes as sent."""

    token: str
    base_url: str
    signer: LoadSigner

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        signed = self.signer.headers(method, self.base_url + path, body)
        return {"Authorization": f"Bearer {self.token}", **signed}


def signed_spec(token: str, tls: TlsCredentials) -> dict[str, Any]:
    """The JSON form of a `signed` auth: the token and the PEM files' paths."""
    return {
        "kind": "signed",
        "token": token,
        "ca_file": str(tls.ca_file),
        "cert_file": str(tls.cert_file),
        "key_file": str(tls.key_file),
    }


def _credentials(spec: dict[str, Any]) -> TlsCredentials:
    paths = [spec.get(name) for name in _TLS_FILES]
    for name, value in zip(_TLS_FILES, paths, strict=True):
        if not isinstance(value, str) or not Path(value).is_file():
            raise ConfigError(
                f"load authentication 'signed': {name} {value!r} is not a readable file here; "
                "a worker on another machine needs the harness's TLS files at the same paths"
            )
    ca, cert, key = (Path(str(p)) for p in paths)
    return TlsCredentials(ca, cert, key)


def _as_addressed(base_url: str) -> str:
    """The base URL as the agency rebuilds it from the Host header locust sends, which
    leaves out ports 80 and 443 (geventhttpclient): the signed @target-uri must match."""
    parts = urlsplit(base_url.rstrip("/"))
    if parts.port in (80, 443):
        host = parts.netloc.rpartition(":")[0]
        parts = parts._replace(netloc=host)
    return urlunsplit(parts)


def build_auth(spec: dict[str, Any], base_url: str = "") -> RequestAuth:
    """The auth a spec describes; `base_url` is the target the requests go to."""
    kind = spec.get("kind")
    if kind in AUTH_KINDS and not isinstance(spec.get("token"), str):
        raise ConfigError(f"load authentication {kind!r} has no token")
    if kind == "bearer":
        return BearerAuth(spec["token"])
    if kind == "signed":
        tls = _credentials(spec)
        try:
            signer = LoadSigner.from_files(tls.cert_file, tls.key_file)
        except ValueError as exc:  # not PEM, or not an EC P-256 key
            raise ConfigError(f"load authentication 'signed': {exc}") from None
        return SignedAuth(spec["token"], _as_addressed(base_url), signer)
    raise ConfigError(
        f"load authentication {kind!r} is not available; use one of {', '.join(AUTH_KINDS)}"
    )


def ssl_context_factory(spec: dict[str, Any]) -> Callable[..., ssl.SSLContext] | None:
    """For FastHttpUser.ssl_context_factory: the strict client context (client certificate,
    the target's CA, TLS ≥ 1.2), built once per process and shared by every connection.
    None for bearer runs, which keep locust's default.

    geventhttpclient calls the factory with ``cafile=`` its default bundle (certifi); it
    is ignored on purpose — the target is verified against the run's CA only."""
    if spec.get("kind") != "signed":
        return None
    tls = _credentials(spec)
    context = client_context(tls, present=(tls.cert_file, tls.key_file))

    def factory(*_: Any, **__: Any) -> ssl.SSLContext:
        return context

    return factory
