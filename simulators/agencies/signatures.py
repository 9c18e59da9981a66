"""RFC 9421 HTTP message signatures, as the strict reference agency verifies them.

A request must carry one signature covering ``@method``, ``@target-uri`` and
``content-digest`` (RFC 9530), with the parameters ``created``, ``nonce`` and ``keyid``.
``keyid`` is the x5t#S256 thumbprint of a client certificate the sandbox CA issued
(`SignerRegistry`); the signature is made with that certificate's key
(``ecdsa-p256-sha256``). A signature older than `SIGNATURE_WINDOW_S` is stale, and a
nonce is accepted once per window (`NonceLedger`). Every refusal is a 401 problem naming
the part of the signature that is wrong and how to fix it.

The cryptography and the digest comparison are the ``http-message-signatures`` package's;
this module decides which rule a request broke, so the agency can say so.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import http_sf
from cryptography.hazmat.primitives import serialization
from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver, InvalidSignature
from http_message_signatures.algorithms import ECDSA_P256_SHA256

from simulators.common.pki import SandboxPki, thumbprint
from simulators.common.problems import FieldError, ProblemError

__all__ = [
    "REQUIRED_COMPONENTS",
    "SIGNATURE_WINDOW_S",
    "NonceLedger",
    "SignatureRules",
    "SignerRegistry",
    "verify_signature",
]

SIGNATURE_WINDOW_S = 300  # how old `created` may be; also how long a nonce is remembered
FUTURE_SKEW_S = 30  # how far ahead of our clock `created` may be
REQUIRED_COMPONENTS = ("@method", "@target-uri", "content-digest")
_REFRESH_INTERVAL_S = 5.0
_ACCEPT_SIGNATURE = 'sig1=("@method" "@target-uri" "content-digest");created;nonce;keyid'


def _refused(
    field: str, message: str, fix: str, *, title: str = "Invalid signature"
) -> ProblemError:
    return ProblemError(
        401,
        title,
        f"The request's HTTP message signature was refused: {field} {message}.",
        errors=(FieldError(field, message, fix),),
        slug="invalid-signature",
        headers={"Accept-Signature": _ACCEPT_SIGNATURE},
    )


class SignerRegistry(HTTPSignatureKeyResolver):
    """keyid (x5t#S256) → public key, over the client certificates the sandbox CA issued.

    Re-read from disk on an unknown keyid (at most every 5 s), so a client certificate
    issued after the agency started is trusted without a restart.
    """

    def __init__(self, pki: SandboxPki) -> None:
        self.pki = pki
        self._keys: dict[str, Any] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def resolve_public_key(self, key_id: str) -> Any:
        with self._lock:
            if (
                key_id not in self._keys
                and time.monotonic() - self._loaded_at > _REFRESH_INTERVAL_S
            ):
                self._reload()
            return self._keys.get(key_id)

    def resolve_private_key(self, key_id: str) -> Any:
        raise KeyError("the agency verifies signatures; it holds no signer's private key")

    def _reload(self) -> None:
        certificates = self.pki.client_certificates()
        self._keys = {
            thumbprint(c.public_bytes(serialization.Encoding.DER)): c.public_key()
            for c in certificates
        }
        self._loaded_at = time.monotonic()


class NonceLedger:
    """Nonces seen within the window, per keyid; a second use is a replay."""

    def __init__(self, window_s: float = SIGNATURE_WINDOW_S + FUTURE_SKEW_S) -> None:
        self.window_s = window_s
        # Oldest first: entries arrive in time order, so forgetting what is past the window
        # (a stale signature is refused anyway) pops from the front — O(1) per nonce, where
        # rebuilding the table cost milliseconds a request once it held tens of thousands.
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, key_id: str, nonce: str) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen and now - next(iter(self._seen.values())) >= self.window_s:
                self._seen.popitem(last=False)
            if (key_id, nonce) in self._seen:
                return False
            self._seen[(key_id, nonce)] = now
            return True


@dataclass(frozen=True, slots=True)
class SignatureRules:
    """Which rules to enforce; the faulty agencies switch one off each."""

    check_content_digest: bool = True
    check_age: bool = True
    reject_replays: bool = True


@dataclass(frozen=True, slots=True)
class _Input:
    label: str
    components: tuple[str, ...]
    params: dict[str, Any]


class _Fields:
    """The header view the verifier reads: every field line, in order."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    def items(self) -> list[tuple[str, str]]:
        return self._pairs


@dataclass(frozen=True, slots=True)
class _Message:
    method: str
    url: str
    headers: _Fields


def _signature_input(headers: _Fields) -> _Input:
    values = [v for k, v in headers.items() if k.lower() == "signature-input"]
    if not values or not any(k.lower() == "signature" for k, _ in headers.items()):
        raise _refused(
            "Signature-Input",
            "is missing",
            "sign every request (RFC 9421) covering @method, @target-uri and content-digest, "
            "with created, nonce and keyid",
            title="Signature required",
        )
    try:
        parsed: Any = http_sf.parse(", ".join(values).encode("latin-1"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError):
        raise _refused(
            "Signature-Input", "is not a structured dictionary", "see RFC 9421 §4.1"
        ) from None
    if not isinstance(parsed, dict) or len(parsed) != 1:
        raise _refused("Signature-Input", "must hold exactly one signature", "send one label")
    label, (members, params) = next(iter(parsed.items()))
    if not isinstance(members, list):
        raise _refused("Signature-Input", "is not an inner list", "see RFC 9421 §4.1")
    return _Input(label, tuple(str(m[0]) for m in members), dict(params))


def _check_parameters(signature: _Input, registry: SignerRegistry) -> str:
    """The keyid, once created, nonce and keyid are present and the keyid is known."""
    params = signature.params
    for name, kind in (("created", int), ("nonce", str), ("keyid", str)):
        if not isinstance(params.get(name), kind) or isinstance(params.get(name), bool):
            raise _refused(
                f"Signature-Input;{name}",
                "is missing",
                "add created (Unix time), a fresh random nonce and keyid to every signature",
            )
    missing = [c for c in REQUIRED_COMPONENTS if c not in signature.components]
    if missing:
        raise _refused(
            "Signature-Input",
            f"does not cover {', '.join(missing)}",
            "cover @method, @target-uri and content-digest (RFC 9530, sha-256 of the body)",
        )
    key_id = str(params["keyid"])
    if registry.resolve_public_key(key_id) is None:
        raise _refused(
            "Signature-Input;keyid",
            "names no known signer",
            "use the x5t#S256 thumbprint of your client certificate issued by the sandbox CA, "
            "and sign with that certificate's key",
        )
    return key_id


def _check_created(created: int, rules: SignatureRules) -> None:
    age = time.time() - created
    if age < -FUTURE_SKEW_S:
        raise _refused(
            "Signature-Input;created", "is in the future", "sign with a synchronised clock"
        )
    if rules.check_age and age > SIGNATURE_WINDOW_S:
        raise _refused(
            "Signature-Input;created",
            f"is {int(age)} s old; signatures are accepted for {SIGNATURE_WINDOW_S} s",
            "sign each request when it is sent, never reuse an old signature",
            title="Stale signature",
        )


def verify_signature(
    *,
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    registry: SignerRegistry,
    nonces: NonceLedger,
    rules: SignatureRules = SignatureRules(),
) -> str:
    """The signer's keyid, or a 401 problem saying which rule the request broke."""
    message = _Message(method, url, _Fields(headers))
    signature = _signature_input(message.headers)
    key_id = _check_parameters(signature, registry)
    _check_created(int(signature.params["created"]), rules)
    verifier = HTTPMessageVerifier(signature_algorithm=ECDSA_P256_SHA256, key_resolver=registry)
    verifier.max_clock_skew = timedelta(seconds=FUTURE_SKEW_S)
    try:
        results = verifier.verify(message, max_age=None, require_components=REQUIRED_COMPONENTS)
    except InvalidSignature:
        raise _refused(
            "Signature",
            "does not verify over the covered components",
            "sign the request exactly as it is sent (method, full URL, Content-Digest) "
            "with the key of the certificate named by keyid",
        ) from None
    if rules.check_content_digest:
        _check_digest(verifier, message, results, body)
    if rules.reject_replays and not nonces.first_use(key_id, str(signature.params["nonce"])):
        raise _refused(
            "Signature-Input;nonce",
            "was already used",
            "use a new random nonce for every request; a replayed request is refused",
            title="Replayed request",
        )
    return key_id


def _check_digest(
    verifier: HTTPMessageVerifier, message: _Message, results: Any, body: bytes
) -> None:
    try:
        verifier.verify_body(message, results, body)
    except InvalidSignature:
        raise _refused(
            "Content-Digest",
            "does not match the body",
            "compute Content-Digest (RFC 9530, sha-256) over the body bytes exactly as sent",
            title="Body does not match its digest",
        ) from None
