"""RFC 9421 HTTP message signatures on the harness's requests (strict profile).

Every request to the target is signed with the harness's client-certificate key
(``ecdsa-p256-sha256``, ``keyid`` = the certificate's x5t#S256), covering ``@method``,
``@target-uri`` and ``content-digest`` (RFC 9530, sha-256 of the body as sent), with
``created`` and a fresh random ``nonce``. The signature checks call `RequestSigner.sign`
themselves to make the defective variants; a request that already carries a signature
is left alone by `SigningAuth`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import Generator
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    MappingKeyResolver,
)
from http_message_signatures.algorithms import ECDSA_P256_SHA256

from harness.tls import certificate_thumbprint

__all__ = ["SIGNATURE_LABEL", "RequestSigner", "SigningAuth"]

SIGNATURE_LABEL = "sig1"
_COVERED = ("@method", "@target-uri")  # content-digest joins when the body is covered


class RequestSigner:
    """Signs httpx requests in place with one key under one keyid."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, key_id: str) -> None:
        self.key_id = key_id
        resolver = MappingKeyResolver(public_keys={}, private_keys={key_id: key})
        self._signer = HTTPMessageSigner(
            signature_algorithm=ECDSA_P256_SHA256, key_resolver=resolver
        )

    @classmethod
    def from_files(cls, cert_file: Path, key_file: Path) -> RequestSigner:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_file} must hold an EC P-256 key to sign requests")
        return cls(key, certificate_thumbprint(cert_file))

    def sign(
        self,
        request: httpx.Request,
        *,
        created: dt.datetime | None = None,
        nonce: str | None = None,
        cover_body: bool = True,
    ) -> None:
        """Add Content-Digest (when the body is covered), Signature-Input and Signature."""
        self._signer.sign(
            request,
            key_id=self.key_id,
            created=created or dt.datetime.now(dt.UTC),
            nonce=nonce or secrets.token_urlsafe(18),
            label=SIGNATURE_LABEL,
            covered_component_ids=_COVERED,
            body=request.content if cover_body else None,
        )


class SigningAuth(httpx.Auth):
    """Signs every request to `origin` that is not signed yet (an httpx auth flow, so the
    signature is made on the request exactly as it is sent)."""

    requires_request_body = True

    def __init__(self, signer: RequestSigner, origin: str) -> None:
        self.signer = signer
        self.origin = origin.rstrip("/")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}"
        if origin == self.origin and "signature-input" not in request.headers:
            # A generated case the signature grammar cannot express (e.g. a control
            # character in a header) is sent unsigned, and the target must refuse it.
            with contextlib.suppress(HTTPMessageSignaturesException):
                self.signer.sign(request)
        yield request
